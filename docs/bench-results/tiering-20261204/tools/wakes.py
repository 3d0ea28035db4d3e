import sys,re,collections,statistics as st
# per thread: wakeups, wake latency (sched_wakeup -> switched in) p50/mean, share woken onto an idle CPU: wakes.py sched.txt ROUNDTRIPS TID=NAME...
f,n=sys.argv[1],float(sys.argv[2]); names=dict(a.split('=') for a in sys.argv[3:])
wk=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_wakeup: comm=.* pid=(\d+) .*target_cpu=(\d+)')
sw=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=(.*) prev_pid=(\d+) .*==> next_comm=.* next_pid=(\d+)')
running={}; pending={}; lat=collections.defaultdict(list); idle=collections.Counter(); wakes=collections.Counter()
for l in open(f):
    m=sw.search(l)
    if m:
        cpu,t,nxt=int(m[1]),float(m[2])*1e6,m[5]; running[cpu]=nxt
        if nxt in pending: w,tc=pending.pop(nxt); lat[nxt].append(t-w)
        continue
    m=wk.search(l)
    if m and m[3] in names and m[3] not in pending:
        t=float(m[2])*1e6; tc=int(m[4]); pending[m[3]]=(t,tc); wakes[m[3]]+=1
        if running.get(tc,'0')=='0': idle[m[3]]+=1
for tid,name in names.items():
    v=lat[tid]
    if not v: continue
    v.sort()
    print(f"{name:10} wakeups/RT {wakes[tid]/n:4.2f}  onto idle CPU {idle[tid]/max(1,wakes[tid])*100:4.0f}%  latency p50 {v[len(v)//2]:5.1f} µs  mean {st.mean(v):5.1f}  p90 {v[int(len(v)*.9)]:6.1f}")
