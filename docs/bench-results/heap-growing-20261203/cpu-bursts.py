import sys,collections
rows=[l.split() for l in open(sys.argv[1])]
# per role cumulative cpu at each timestamp (sum over pids of the role)
byt=collections.OrderedDict()
for t,pid,role,cpu in rows:
    byt.setdefault(float(t),{})[(role,pid)]=float(cpu)
ts=list(byt.keys())
last={}
series=[]
for t in ts:
    cur=dict(last); cur.update(byt[t]); last=cur
    agg=collections.Counter()
    for (role,pid),c in cur.items(): agg[role]+=c
    series.append((t,agg))
# bursts: total cpu rate > 0.5 cores over 0.1s steps
bursts=[];inb=False
for k in range(1,len(series)):
    t0,a0=series[k-1]; t1,a1=series[k]
    rate=(sum(a1.values())-sum(a0.values()))/(t1-t0) if t1>t0 else 0
    if rate>0.8 and not inb: inb=True; start=k-1
    if rate<=0.8 and inb:
        inb=False
        if series[k][0]-series[start][0]>0.8: bursts.append((start,k))
for s,e in bursts:
    a0=series[s][1]; a1=series[e][1]
    print('burst %.1fs:'%(series[e][0]-series[s][0]), ' '.join('%s %.2f'%(r,a1[r]-a0[r]) for r in ('client','dev','workerd','iperf3')))
