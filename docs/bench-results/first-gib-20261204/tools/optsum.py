import sys,re,collections
# optsum.py LOG: TurboFan jobs in a --trace-opt log: count, total ms (the three phases), and the largest by function
pat=re.compile(r'completed compiling 0x[0-9a-f]+ <JSFunction (\S*) .*target TURBOFAN\) - took ([\d.]+), ([\d.]+), ([\d.]+) ms')
per=collections.defaultdict(list); tot=0
for l in open(sys.argv[1]):
    m=pat.search(l)
    if m:
        t=float(m[2])+float(m[3])+float(m[4]); per[m[1] or '(anonymous)'].append(t); tot+=t
n=sum(len(v) for v in per.values())
print(f"{n} jobs, {tot:.0f} ms; functions compiled more than once: {sum(1 for v in per.values() if len(v)>1)}")
for f,v in sorted(per.items(), key=lambda kv:-sum(kv[1]))[:int(sys.argv[2]) if len(sys.argv)>2 else 15]:
    print(f"  {sum(v):7.1f} ms  x{len(v):2}  {f}")
