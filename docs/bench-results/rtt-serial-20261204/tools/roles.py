# roles.py: each thread's role in a schedrun.sh OUT dir (its `threads` file, from ps -eLo pid,tid,comm,args),
# shared by run_time.py, lat.py and preempt.py: {tid: (role, whether it is its process's main thread)}
def thread_roles(out):
    roles = {}
    for l in open(out + '/threads'):
        pid, tid, comm, args = l.split(None, 3)
        r = ('connector' if 'connector' in args or ' bind' in args else 'client' if ' client' in args else 'workerd' if 'workerd' in args
             else 'backend' if 'backend.ts' in args else 'driver' if 'run.ts' in args else '?')
        roles[tid] = (r, pid == tid)
    return roles
