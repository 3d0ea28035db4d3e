import sys,json,subprocess,collections,datetime,re,glob
# split2.py DIR: from run2.sh's system-wide perf, the client's and the connector's CPU-s in each
# bulk rep's window: the main thread by kind (GC, compile, the rest), then the other threads by kind
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
main=collections.defaultdict(collections.Counter); others=collections.defaultdict(collections.Counter)
for s in out.split('\n\n'):
    lines=s.strip().splitlines()
    if not lines: continue
    h=lines[0].split()
    pid,tid=[x for x in h if '/' in x][0].split('/')
    if pid not in roles: continue
    t=float([x for x in h if x.endswith(':')][0].rstrip(':'))
    w=next((x for x in wins if x[2]<=t<=x[3]),None)
    if not w: continue
    syms=' '.join(lines[1:])
    kind='compile' if COMP.search(syms) else 'GC' if GC.search(syms) else 'rest'
    (main if tid==pid else others)[(roles[pid],w[1],w[0])][kind]+=1/2000
print("## each Node end's CPU-s in each rep's window: main thread by kind, and its other threads")
for key in sorted(main, key=lambda k:(k[0],k[1],k[2])):
    m,o=main[key],others[key]
    print(f"{key[0]:9} {key[2]:9} rep {key[1]}: {sum(m.values())+sum(o.values()):4.2f} s  main: rest {m['rest']:.2f}  GC {m['GC']:.2f}  compile {m['compile']:.2f}  other threads {sum(o.values()):.2f}")
print("\n## the other threads by kind")
for key in sorted(others, key=lambda k:(k[0],k[1],k[2])):
    print(f"{key[0]:9} {key[2]:9} rep {key[1]}: " + '  '.join(f"{k} {v:.3f}" for k,v in others[key].most_common()))
