import subprocess,sys,collections,re
# usage: perfunder.py PERFDATA SESSIONS REGEX [depth]: samples whose stack has a frame matching REGEX,
# by the frame just below the outermost match (depth 1) — µs per session (period 200 µs)
f,n,pat=sys.argv[1],float(sys.argv[2]),re.compile(sys.argv[3]); depth=int(sys.argv[4]) if len(sys.argv)>4 else 1
out=subprocess.run(['perf','script','-i',f,'-F','ip,sym','--no-demangle'],capture_output=True,text=True).stdout
samples=out.split('\n\n'); tot=0; c=collections.Counter(); allc=0
for s in samples:
    fr=[l.strip().split(' ',1)[1] if ' ' in l.strip() else '?' for l in s.strip().splitlines()]
    if not fr: continue
    allc+=1
    idx=[i for i,x in enumerate(fr) if pat.search(x)]
    if not idx: continue
    tot+=1; o=max(idx)  # outermost (stack is leaf-first)
    below=fr[max(o-depth,0)] if o>0 else '(self) '+fr[o]
    c[below[:120]]+=1
print('all %.0f us/session; matching %.1f us/session'%(allc*200/n,tot*200/n))
for k,v in c.most_common(25): print('%6.1f  %s'%(v*200/n,k))
