import subprocess,sys,collections,re
# per-session µs by the innermost JS frame (builtins/runtime/kernel charged to the JS function that called them)
f,n=sys.argv[1],float(sys.argv[2]); filt=re.compile(sys.argv[3]) if len(sys.argv)>3 else None
out=subprocess.run(['perf','script','-i',f,'-F','ip,sym','--no-demangle'],capture_output=True,text=True).stdout
c=collections.Counter(); tot=0
for s in out.split('\n\n'):
    fr=[l.strip().split(' ',1)[1] if ' ' in l.strip() else '?' for l in s.strip().splitlines()]
    if not fr: continue
    tot+=1
    js=[x for x in fr if x.startswith('JS:')]
    key=re.sub(r'^JS:[*^~]?','',js[0]) if js else '(no JS) '+fr[0][:60]
    key=key.replace('file:///work/main/','')
    if filt and not filt.search(key): continue
    c[key[:110]]+=1
print('total %.0f'%(tot*200/n))
for k,v in c.most_common(int(sys.argv[4]) if len(sys.argv)>4 else 40): print('%6.1f  %s'%(v*200/n,k))
