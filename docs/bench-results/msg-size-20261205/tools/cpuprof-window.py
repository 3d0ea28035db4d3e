import json,glob,collections,sys
# cpuprof-window.py PID A-B[,C-D] [N]: run in the profile directory's parent (prof/CPU.*.PID.*.cpuprofile); the top N functions by self time over the windows (seconds from the profile's start), idle samples left out
pid=sys.argv[1]; wins=[tuple(map(float,w.split('-'))) for w in sys.argv[2].split(',')]
f=glob.glob(f"prof/CPU.*.{pid}.0.*.cpuprofile")[0]
p=json.load(open(f)); nodes={x['id']:x for x in p['nodes']}
t=p['startTime']; c=collections.Counter(); tot=0
for s,dt in zip(p['samples'],p['timeDeltas']):
    t+=dt; x=(t-p['startTime'])/1e6
    if any(a<=x<b for a,b in wins):
        cf=nodes[s]['callFrame']
        if cf['functionName'] in ('(idle)',): continue
        c[f"{cf['functionName'] or '(anon)'} {cf['url'].split('/')[-1]}:{cf['lineNumber']}"]+=dt; tot+=dt
print("busy ms",tot/1000)
for k,v in c.most_common(int(sys.argv[3]) if len(sys.argv)>3 else 25): print(f"{v/tot*100:5.1f}%  {v/1000:7.1f} ms  {k}")
