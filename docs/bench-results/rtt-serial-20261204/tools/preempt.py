import sys,re,collections
from roles import thread_roles
# preempt.py OUT: per role, switches out per round trip by prev_state (R = preempted while runnable, S = went to sleep)
O=sys.argv[1]
role={tid:r for tid,(r,main) in thread_roles(O).items() if main}
sw=re.compile(r'sched:sched_switch: prev_comm=(.*) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+)')
wk=re.compile(r'sched:sched_wakeup: comm=.* pid=(\d+) ')
c=collections.Counter(); by=collections.Counter(); rt=0
for l in open(O+'/sched.txt'):
    m=sw.search(l)
    if m:
        if m[2] in role:
            c[(role[m[2]],m[3])]+=1
            if m[3].startswith('R'): by[(role[m[2]], role.get(m[5],m[4].strip()))]+=1
        continue
    m=wk.search(l)
    if m and role.get(m[1])=='backend': rt+=1
for k in sorted(c): print(f"{k[0]:10} {k[1]:3} {c[k]/rt:5.2f}/RT")
print("preempted by:", ', '.join(f"{a}<-{b} {v/rt:.2f}" for (a,b),v in by.most_common(8)))
