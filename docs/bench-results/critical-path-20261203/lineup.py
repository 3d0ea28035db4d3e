import sys,glob,bisect,statistics,collections
ev=[]
for f in glob.glob(sys.argv[1]+'/*.txt'):
    for l in open(f):
        k,t=l.split(); ev.append((float(t),k))
ev.sort()
acc=[i for i,(t,k) in enumerate(ev) if k=='c-accept']
rel=collections.defaultdict(list)
for j,i in enumerate(acc):
    t0=ev[i][0]; end=ev[acc[j+1]][0] if j+1<len(acc) else t0+5
    seen=set()
    for t,k in ev[i:]:
        if t>=end: break
        if k in seen: continue
        seen.add(k); rel[k].append((t-t0)*1000)
for k,v in sorted(rel.items(), key=lambda kv: statistics.median(kv[1])):
    print('%-18s median %7.0f µs  n=%d'%(k,statistics.median(v),len(v)))
