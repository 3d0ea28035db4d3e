import sys,re,collections
from roles import thread_roles
# run_time.py OUT: on-CPU time per round trip by role (from sched_switch), and runs per RT
O=sys.argv[1]
role={tid:(r,'main' if main else 'thread') for tid,(r,main) in thread_roles(O).items()}
sw=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=(.*) prev_pid=(\d+) .*==> next_comm=.* next_pid=(\d+)')
wk=re.compile(r'sched:sched_wakeup: comm=.* pid=(\d+) ')
since={}; run=collections.Counter(); runs=collections.Counter(); rt=0
for l in open(O+'/sched.txt'):
    m=sw.search(l)
    if m:
        cpu,t=int(m[1]),float(m[2])*1e6
        prev,nxt=m[4],m[5]
        if cpu in since and since[cpu][0]==prev and prev in role:
            run[role[prev]]+=t-since[cpu][1]; runs[role[prev]]+=1
        since[cpu]=(nxt,t)
        continue
    m=wk.search(l)
    if m and m[1] in role and role[m[1]]==('backend','main'): rt+=1
print(f"{rt} round trips")
for k in sorted(run): print(f"{k[0]:10} {k[1]:6} on CPU {run[k]/rt:6.1f} µs/RT in {runs[k]/rt:4.2f} runs")
print(f"sum {sum(run.values())/rt:.1f} µs/RT")
