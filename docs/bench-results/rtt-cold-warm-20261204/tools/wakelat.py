import sys,re,collections
# wake-up latency (sched_wakeup -> sched_switch in) of chosen threads: overall and inside RTT stalls; sched.txt dump thr TID=NAME...
sched,dump,thr=sys.argv[1],sys.argv[2],float(sys.argv[3]); names=dict(a.split('=') for a in sys.argv[4:])
wk=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_wakeup: comm=.* pid=(\d+) ')
sw=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: .*==> next_comm=.* next_pid=(\d+)')
pending={}; lat=[]
for l in open(sched):
    m=wk.search(l)
    if m and m[3] in names: pending.setdefault(m[3],float(m[2])*1e3); continue
    m=sw.search(l)
    if m and m[3] in pending: lat.append((pending.pop(m[3]),float(m[2])*1e3,m[3]))
rows=[tuple(map(float,l.split())) for l in open(dump) if l.strip()]
st=[(t,t+u/1e3) for t,u in rows if u>thr]
import bisect
starts=[a for a,b in st]
def install(t):
    i=bisect.bisect_right(starts,t)-1
    return i>=0 and st[i][0]<=t<=st[i][1]
for grp in ('all','in stalls'):
    by=collections.defaultdict(list)
    for a,b,tid in lat:
        if grp=='all' or install(a): by[names[tid]].append((b-a)*1e3)
    for n,v in sorted(by.items()):
        v.sort(); print(f"{grp:>9} {n:>10}: {len(v):6d} wake-ups, latency p50 {v[len(v)//2]:6.0f} µs, p99 {v[int(len(v)*.99)]:6.0f}, max {v[-1]:6.0f}, over 1 ms: {sum(1 for x in v if x>1000)}")
