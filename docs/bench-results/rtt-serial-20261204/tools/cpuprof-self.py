import json,sys,glob,collections
# self.py DIR [N]: self time per function (µs per round trip) in each Node end's V8 CPU profile, over the warm round trips (the last 3/4)
d=sys.argv[1]; top=int(sys.argv[2]) if len(sys.argv)>2 else 25
starts=sorted(float(l.split()[0]) for f in glob.glob(d+'/out/samples/*-rtt-1.txt') for l in open(f) if l.strip())
a=starts[len(starts)//4]*1000; b=starts[-1]*1000  # µs
n=sum(1 for s in starts if a<=s*1000<=b)
res={}
for line in open(d+'/pids'):
    pid,role=line.split()
    f=glob.glob(f"{d}/prof/CPU.*.{pid}.0.*.cpuprofile")[0]
    p=json.load(open(f)); nodes={x['id']:x for x in p['nodes']}
    t=p['startTime']; c=collections.Counter()
    for s,dt in zip(p['samples'],p['timeDeltas']):
        t+=dt
        if a<=t<=b:
            cf=nodes[s]['callFrame']; url=cf['url'].split('/')[-1]
            c[f"{cf['functionName'] or '(anon)'} {url}:{cf['lineNumber']}"]+=dt
    res[role]=c
    tot=sum(c.values())
    print(f"## {role}: {tot/n:.1f} µs per round trip ({n} round trips in the window)")
    for k,v in c.most_common(top): print(f"  {v/n:6.2f}  {k}")
