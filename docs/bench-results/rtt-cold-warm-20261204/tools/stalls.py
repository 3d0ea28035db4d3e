import sys,re,collections
# who ran on each CPU during RTT stalls: sched.txt (perf script of sched_switch, -k CLOCK_MONOTONIC) against an RTT dump (t0 ms, µs)
sched,dump=sys.argv[1],sys.argv[2]; thr=float(sys.argv[3]) if len(sys.argv)>3 else 1000
names=dict(a.split('=') for a in sys.argv[4:])
segs=collections.defaultdict(list)  # cpu -> [(start,end,tid)]
cur={}
pat=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=.* prev_pid=(\d+) .*==> next_comm=(.*) next_pid=(\d+)')
t_first=t_last=None
for l in open(sched):
    m=pat.search(l)
    if not m: continue
    cpu=int(m[1]); t=float(m[2])*1e3; nxt=int(m[5])
    t_first=t if t_first is None else t_first; t_last=t
    if cpu in cur: segs[cpu].append((cur[cpu][0],t,cur[cpu][1]))
    cur[cpu]=(t,nxt)
rows=[tuple(map(float,l.split())) for l in open(dump) if l.strip()]
rows=[r for r in rows if r[0]>t_first and r[0]+r[1]/1e3<t_last]
def ran(a,b):
    c=collections.Counter()
    for cpu,ss in segs.items():
        for s,e,tid in ss:
            if e<a or s>b: continue
            c[tid]+=min(e,b)-max(s,a)
    return c
tot=ran(rows[0][0],rows[-1][0]); span=rows[-1][0]-rows[0][0]
stall=collections.Counter(); st=0; n=0
for t0,us in rows:
    if us<thr: continue
    n+=1; st+=us/1e3; stall+=ran(t0,t0+us/1e3)
print(f"{len(rows)} samples in window, {n} over {thr:.0f} µs, stalled {st:.1f} of {span:.0f} ms")
print("tid            share of 2 CPUs overall   during stalls")
# threads named alike (a process's V8 workers) are summed
g_tot=collections.Counter(); g_st=collections.Counter()
for tid,v in tot.items(): g_tot[names.get(str(tid),'other')]+=v
for tid,v in stall.items(): g_st[names.get(str(tid),'other')]+=v
for name,_ in (g_tot+g_st).most_common(40):
    print(f"{name:>12}  {g_tot[name]/span/2*100:6.1f} %   {g_st[name]/st/2*100:6.1f} %")
