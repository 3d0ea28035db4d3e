import sys,subprocess,collections,re
# system-wide cpu-clock samples: per process and thread kind (main / other thread), per second
f=sys.argv[1]
out=subprocess.run(['perf','script','-i',f,'-F','comm,pid,tid,time,ip,sym','--no-demangle'],capture_output=True,text=True).stdout
c=collections.Counter(); t0=None
for blk in out.split('\n\n'):
    ls=blk.strip().splitlines()
    if not ls: continue
    h=ls[0].split()
    m=re.match(r'(.*?)\s+(\d+)/(\d+)\s+([\d.]+):',ls[0].strip())
    if not m: continue
    comm,pid,tid,t=m[1].strip(),m[2],m[3],float(m[4])
    if t0 is None: t0=t
    sec=int(t-t0)
    frames=[l.strip().split(' ',1)[1] if ' ' in l.strip() else '' for l in ls[1:]]
    kind='main' if pid==tid else 'others'
    c[(sec,comm if comm!='node' else pid,kind)]+=1
keys=sorted({(k[1],k[2]) for k in c})
secs=sorted({k[0] for k in c})
print('ms of CPU per second of the run, by process and thread kind')
print('%-28s'%'', ' '.join('%6ds'%s for s in secs))
for p,k in keys:
    row=[c[(s,p,k)]*0.2 for s in secs]
    if sum(row)<20: continue
    print('%-28s'%(p+' '+k), ' '.join('%7.0f'%v for v in row))
