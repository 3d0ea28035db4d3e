import sys,json,subprocess,collections,datetime,re,glob
# others.py DIR: the client's and connector's other threads in each bulk rep's window, by kind (compile, GC, other) and thread name
d=sys.argv[1]; off=float(open(d+'/clock-offset').read())
wins=[]
for l in open(d+'/out/results.jsonl'):
    r=json.loads(l)
    end=datetime.datetime.fromisoformat(r['ts'].replace('Z','+00:00')).timestamp()-off
    wins.append((r['test'],r['rep'],end-r['ms']/1000,end))
roles={}
for f in glob.glob(d+'/cmd.*'):
    cmd=open(f).read(); roles[f.rsplit('.',1)[1]]='connector' if ' connector ' in cmd else 'client'
GC=re.compile(r'Heap|Scaveng|MarkCompact|Sweeper|Marking|GCTracer|ArrayBufferSweeper|Evacuat|MemoryAllocator|Unmapper')
COMP=re.compile(r'Compil|Turbofan|turboshaft|Maglev|Baseline|Sparkplug|Parse|Bytecode|OptimizingCompile|Pipeline|compiler')
out=subprocess.run(['perf','script','-i',d+'/perf.all','-F','comm,pid,tid,time,ip,sym','--no-demangle'],capture_output=True,text=True).stdout
acc=collections.defaultdict(collections.Counter)
for s in out.split('\n\n'):
    lines=s.strip().splitlines()
    if not lines: continue
    h=lines[0].split()
    pt=[x for x in h if '/' in x][0]; pid,tid=pt.split('/')
    if pid not in roles or tid==pid: continue
    t=float([x for x in h if x.endswith(':')][0].rstrip(':'))
    w=next((x for x in wins if x[2]<=t<=x[3]),None)
    if not w: continue
    syms=' '.join(lines[1:])
    k='compile' if COMP.search(syms) else 'GC' if GC.search(syms) else 'other'
    acc[(roles[pid],w[1],w[0])][k]+=1/2000
for key,c in sorted(acc.items()):
    print(key, ' '.join(f"{k} {v:.3f}" for k,v in c.most_common()))
