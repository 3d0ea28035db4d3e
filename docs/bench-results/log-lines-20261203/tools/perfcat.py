import subprocess,sys,collections,re
# workerd self time by category, µs per session
f,n=sys.argv[1],float(sys.argv[2])
out=subprocess.run(['perf','report','-i',f,'--no-children','--sort','dso,sym','-g','none','-q','--stdio','--percent-limit','0'],capture_output=True,text=True).stdout
tot=int(subprocess.run(f"perf script -i {f} -F period | wc -l",shell=True,capture_output=True,text=True).stdout)
c=collections.Counter()
for line in out.splitlines():
    p=line.split()
    if not p or not p[0].endswith('%'): continue
    pct=float(p[0][:-1]); dso=p[1]; sym=' '.join(p[3:])
    if 'kernel' in dso: k='kernel'
    elif 'JIT' in dso: k='V8 JIT code'
    elif dso.startswith('lib'): k='libc/other libs'
    elif re.search(r'Builtins_|v8::|Runtime_|Turboshaft|turboshaft|compiler::',sym): 
        k='V8 GC' if re.search(r'Heap|Scaveng|Mark|Sweep|GC|Evacuat|Compact',sym) else 'V8 optimizing compiler' if re.search(r'compiler::|turboshaft|Turboshaft|maglev',sym) else 'V8 builtins, runtime'
    elif re.search(r'kj::|capnp|kj_rs|tokio|absl|TCMalloc|tcmalloc',sym): k='kj/capnp/tokio/malloc (I/O, events)'
    elif 'workerd::' in sym: k='workerd C++ (API, hibernation, jsg)'
    else: k='other '+sym[:40]
    c[k]+=pct/100*tot*200/n
for k,v in c.most_common(14): print('%7.1f  %s'%(v,k))
print('%7.1f  total'%sum(c.values()))
