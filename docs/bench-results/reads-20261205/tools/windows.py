import sys,re,json,collections,subprocess
perf,res=sys.argv[1],sys.argv[2]
tunnels=[t.split(",") for t in sys.argv[3:]]  # name,rep,client,connector,workerd
rows=[json.loads(l) for l in open(res)]
first={}
times=collections.defaultdict(list)
want=set(x for t in tunnels for x in t[2:])
for l in open(perf):
    m=re.match(r"\s*(\d+)\s+([\d.]+):",l)
    if m and m.group(1) in want: times[m.group(1)].append(float(m.group(2)))
for name,rep,cl,co,wd in tunnels:
    ts=sorted(times[cl]); 
    # first time the client is busy: 20 samples within 50 ms
    import bisect
    t0=next(ts[i] for i in range(len(ts)) if bisect.bisect(ts,ts[i]+1.0)-i>500)
    up=next(r for r in rows if r["tunnel"]==name and r["rep"]==int(rep) and r["test"]=="bulk_up")["ms"]/1000
    dn=next(r for r in rows if r["tunnel"]==name and r["rep"]==int(rep) and r["test"]=="bulk_down")["ms"]/1000
    print(name,rep,"up",f"{t0:.2f}-{t0+up:.2f}","down",f"{t0+up:.2f}-{t0+up+dn:.2f}")
