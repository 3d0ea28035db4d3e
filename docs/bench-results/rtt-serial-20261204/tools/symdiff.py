import sys,subprocess,collections,re
# symdiff.py A.perf NA B.perf NB [mode]: µs per RT by leaf symbol (mode 'leaf') or by innermost JS frame ('js'), A minus B
def prof(f,n,mode):
    out=subprocess.run(['perf','script','-i',f,'-F','ip,sym','--no-demangle'],capture_output=True,text=True).stdout
    c=collections.Counter()
    for s in out.split('\n\n'):
        fr=[l.strip().split(' ',1)[1] if ' ' in l.strip() else '?' for l in s.strip().splitlines()]
        if not fr: continue
        if mode=='js':
            js=[x for x in fr if x.startswith('JS:') or x.startswith('LazyCompile') or x.startswith('Function:') or x.startswith('~') or x.startswith('*')]
            k=js[0] if js else '(no JS) '+fr[0][:60]
        elif mode=='kern':
            # outermost kernel entry: the syscall
            ks=[x for x in fr if x.startswith('__x64_sys') or x.startswith('__do_sys')]
            k=ks[-1] if ks else ('(user) ' if not any(x.startswith(('asm_','entry_','do_syscall')) for x in fr) else '(kernel other) ')+''
        else: k=fr[0]
        c[re.sub(r'file:///\S+/','',k)[:90]]+=200/n
    return c
a=prof(sys.argv[1],float(sys.argv[2]),sys.argv[5] if len(sys.argv)>5 else 'leaf'); b=prof(sys.argv[3],float(sys.argv[4]),sys.argv[5] if len(sys.argv)>5 else 'leaf')
print(f"total {sum(a.values()):.1f} vs {sum(b.values()):.1f}")
keys=sorted(set(a)|set(b),key=lambda k:-abs(a[k]-b[k]))
for k in keys[:int(sys.argv[6]) if len(sys.argv)>6 else 30]: print(f"{a[k]-b[k]:+6.1f}  {a[k]:6.1f} {b[k]:6.1f}  {k}")
