import sys,json,subprocess,collections,datetime,re,glob
# split2.py DIR: from a system-wide perf, CPU-s of the client and the connector (by PID) in each bulk rep's window: main thread by kind and other threads
d=sys.argv[1]; off=float(open(d+'/clock-offset').read())
wins=[]
for l in open(d+'/out/results.jsonl'):
    r=json.loads(l)
    end=datetime.datetime.fromisoformat(r['ts'].replace('Z','+00:00')).timestamp()-off
    wins.append((r['test'],r['rep'],end-r['ms']/1000,end))
roles={}
for f in glob.glob(d+'/cmd.*'):
    cmd=open(f).read(); roles[f.rsplit('.',1)[1]]='connector' if ' connector ' in cmd else 'client'
GC=re.compile(r'Heap|Scaveng|MarkCompact|Sweeper|Marking|GCTracer|ArrayBufferSweeper|Evacuat')
COMP=re.compile(r'Compil|Turbofan|turboshaft|Maglev|Baseline|Sparkplug|Parse|Bytecode|OptimizingCompile|Pipeline')
out=subprocess.run(['perf','script','-i',d+'/perf.all','-F','pid,tid,time,ip,sym','--no-demangle'],capture_output=True,text=True).stdout
acc=collections.defaultdict(collections.Counter)
for s in out.split('\n\n'):
    lines=s.strip().splitlines()
    if not lines: continue
    h=lines[0].split()
    pt=h[0]; pid,tid=(pt.split('/') if '/' in pt else (h[0],h[1]))
    if pid not in roles: continue
    t=float([x for x in h if x.endswith(':')][0].rstrip(':'))
    w=next((x for x in wins if x[2]<=t<=x[3]),None)
    if not w: continue
    syms=' '.join(lines[1:])
    if tid!=pid: k='other threads'
    elif GC.search(syms): k='main: GC'
    elif COMP.search(syms): k='main: compile'
    else: k='main: rest'
    acc[(roles[pid],w[0],w[1])][k]+=1/2000
for (role,test,rep),c in sorted(acc.items(), key=lambda kv:(kv[0][0],kv[0][2],kv[0][1])):
    tot=sum(c.values())
    print(f"{role:9} {test:9} rep {rep}: {tot:4.2f} s  " + '  '.join(f"{k} {c[k]:.2f}" for k in ('main: rest','main: GC','main: compile','other threads')))
