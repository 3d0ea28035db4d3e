import sys,re,collections,statistics as st
from roles import thread_roles
# lat.py OUT: per role, wake-up latency (sched_wakeup -> switched in), split by whether the target CPU was idle
O=sys.argv[1]
role={tid:r for tid,(r,main) in thread_roles(O).items()}
wk=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_wakeup: comm=.* pid=(\d+) .*target_cpu=(\d+)')
sw=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=(.*) prev_pid=(\d+) .*==> next_comm=.* next_pid=(\d+)')
running={}; pending={}; lat=collections.defaultdict(list); n=collections.Counter()
for l in open(O+'/sched.txt'):
    m=sw.search(l)
    if m:
        cpu,t,nxt=int(m[1]),float(m[2])*1e6,m[5]; running[cpu]=nxt
        if nxt in pending:
            w,idle=pending.pop(nxt); lat[(role[nxt],idle)].append(t-w)
        continue
    m=wk.search(l)
    if m and m[3] in role and m[3] not in pending:
        pending[m[3]]=(float(m[2])*1e6, running.get(int(m[4]),'0')=='0')
        if role[m[3]]=='backend': n['rt']+=1
rt=n['rt'] or 1
tot=0
for k in sorted(lat):
    v=sorted(lat[k]); s=sum(v); tot+=s
    print(f"{k[0]:10} {'idle CPU' if k[1] else 'busy CPU'}  n/RT {len(v)/rt:4.2f}  p50 {v[len(v)//2]:6.1f}  mean {st.mean(v):6.1f} µs  per RT {s/rt:6.1f} µs")
print(f"all wake-up latency per RT: {tot/rt:.1f} µs over {rt} RTs")
