import sys,re
# the CPUs' timelines during the K worst RTT samples: sched.txt, dump, K
sched,dump,K=sys.argv[1],sys.argv[2],int(sys.argv[3])
lab={'0':'idle','3323':'WD','3325':'CONN','3341':'CLI','3275':'BENCH','3286':'BACK','83':'kdamond'}
for a in sys.argv[4:]: k,v=a.split('='); lab[k]=v
pat=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=.* prev_pid=(\d+) .*==> next_comm=(.*) next_pid=(\d+)')
ev=[]
for l in open(sched):
    m=pat.search(l)
    if m: ev.append((float(m[2])*1e3,int(m[1]),m[5]))
rows=[tuple(map(float,l.split())) for l in open(dump) if l.strip()]
rows=[r for r in rows if ev[0][0]<r[0]<ev[-1][0]-10]
for t0,us in sorted(rows,key=lambda r:-r[1])[:K]:
    print(f"--- stall at {t0:.3f} ms, {us:.0f} µs")
    for t,cpu,nxt in ev:
        if t0-0.3<=t<=t0+us/1e3+0.1: print(f"   {(t-t0)*1e3:7.0f} µs  cpu{cpu} -> {lab.get(nxt,nxt)}")
