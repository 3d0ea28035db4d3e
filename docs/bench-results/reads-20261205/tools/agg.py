import sys,collections,re
f,tid,t0,t1=sys.argv[1],sys.argv[2],float(sys.argv[3]),float(sys.argv[4])
c=collections.Counter(); d=collections.Counter(); n=0
for l in open(f):
    m=re.match(r"\s*(\d+)\s+([\d.]+):\s+[0-9a-f]+\s+(.*)$",l)
    if not m or m.group(1)!=tid: continue
    t=float(m.group(2))
    if not (t0<=t<t1): continue
    rest=m.group(3).strip()
    dm=re.search(r"\(([^)]*)\)\s*$",rest); dso=dm.group(1) if dm else "?"
    sym=rest[:dm.start()].strip() if dm else rest
    n+=1; c[(dso.split('/')[-1],sym)]+=1; d[dso.split('/')[-1] if 'kallsyms' in dso or 'node' in dso.split('/')[-1] or 'libc' in dso else 'jit/other']+=1
print("samples",n, "=", n/1999*1000, "ms")
for k,v in d.most_common(): print(f"  {k:30s} {v:6d} {v/1999*1000:7.1f} ms")
for k,v in c.most_common(int(sys.argv[5]) if len(sys.argv)>5 else 25): print(f"{v/1999*1000:7.1f} ms  {k[0]:20s} {k[1][:80]}")
