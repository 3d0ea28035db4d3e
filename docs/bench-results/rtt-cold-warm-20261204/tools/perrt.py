import sys,subprocess,glob,collections
# µs of CPU per round trip in perf's window, main thread and the others apart: perrt.py DIR (from perfrtt.sh)
d=sys.argv[1]
samples=[tuple(map(float,l.split())) for f in glob.glob(d+'/out/samples/*-rtt-1.txt') for l in open(f) if l.strip()]
for pf in sorted(glob.glob(d+'/perf.*')):
    pid=pf.rsplit('.',1)[1]; cmd=open(d+'/cmd.'+pid).read()
    role=next((r for r in ('connector','client','bind','workerd') if (' '+r+' ') in ' '+cmd),'?')
    out=subprocess.run(['perf','script','-i',pf,'-F','tid,time'],capture_output=True,text=True).stdout.split('\n')
    ts=[]; c=collections.Counter()
    for l in out:
        p=l.split()
        if len(p)<2: continue
        tid=p[0]; t=float(p[1].rstrip(':'))*1e3; ts.append(t); c['main' if tid==pid else 'others']+=1
    a,b=min(ts),max(ts)
    n=sum(1 for s,u in samples if a<=s<=b)
    print(f"{role:10} window {b-a:6.0f} ms, {n} round trips: main {c['main']*200/n:6.1f} µs, other threads {c['others']*200/n:5.1f} µs per round trip")
