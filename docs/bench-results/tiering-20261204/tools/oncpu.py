import sys,re,collections
# on-CPU µs per round trip per thread (from sched_switch): oncpu.py sched.txt N TID=NAME...; also per process (all threads of the pid's tgid not known: main thread only) 
f,n=sys.argv[1],float(sys.argv[2]); names=dict(a.split('=') for a in sys.argv[3:])
sw=re.compile(r'\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=(.*) prev_pid=(\d+) .*==> next_comm=(.*) next_pid=(\d+)')
start={}; tot=collections.Counter(); comm_tot=collections.Counter()
for l in open(f):
    m=sw.search(l)
    if not m: continue
    cpu,t=int(m[1]),float(m[2])*1e6
    if cpu in start:
        pid,t0=start[cpu]; tot[pid]+=t-t0
    start[cpu]=(m[6],t)
    comm_tot[m[5].strip()]+=0
for tid,name in names.items(): print(f"{name:10} on-CPU {tot[tid]/n:6.1f} µs per round trip (main thread)")
print(f"{'idle':10} {tot['0']/n:6.1f} µs per round trip (both CPUs)")
