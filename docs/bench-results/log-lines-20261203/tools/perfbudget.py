import subprocess,sys,collections,re
# usage: perfbudget.py PERFDATA SESSIONS: per-session µs by the innermost frame of "our" code (else ws, else node internals), kernel/GC split
f,n=sys.argv[1],float(sys.argv[2])
out=subprocess.run(['perf','script','-i',f,'-F','comm,ip,sym','--no-demangle'],capture_output=True,text=True).stdout
c=collections.Counter(); thr=collections.Counter()
ours=re.compile(r'file:///work/[^ ]*/(connector|shared|client|cli)/[^:]*|bench/chain-relay.ts')
for s in out.split('\n\n'):
    lines=s.strip().splitlines()
    if not lines: continue
    comm=lines[0].split()[0]; thr[comm]+=1
    fr=[l.strip().split(' ',1)[1] if ' ' in l.strip() else '?' for l in lines[1:]]
    key=None
    for x in fr:
        m=ours.search(x)
        if m: key='ours '+m.group(0).split('/work/')[-1].split('/',2)[-1] if 'file://' in m.group(0) else 'ours '+m.group(0); break
    if key is None:
        for x in fr:
            if 'node_modules/ws/' in x: key='ws'; break
            if 'prom-client' in x: key='prom-client'; break
    if key is None: key='other'
    c[key]+=1
print('threads:',{k:round(v*200/n,1) for k,v in thr.most_common(8)})
for k,v in c.most_common(30): print('%6.1f  %s'%(v*200/n,k))
