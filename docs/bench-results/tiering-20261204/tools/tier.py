# on-CPU µs per session (or per round trip) by the tier of the innermost JS frame (perf map: JS:* TurboFan, JS:^ Sparkplug, JS:~ Ignition): tier.py PERF_FILE N [TOP]
import subprocess,sys,collections,re
f,n=sys.argv[1],float(sys.argv[2])
out=subprocess.run(['perf','script','-i',f,'-F','ip,sym','--no-demangle'],capture_output=True,text=True).stdout
c=collections.Counter(); fn=collections.Counter(); tot=0
for s in out.split('\n\n'):
    fr=[l.strip().split(' ',1)[1] if ' ' in l.strip() else '?' for l in s.strip().splitlines()]
    if not fr: continue
    tot+=1
    js=[x for x in fr if x.startswith('JS:')]
    if not js: c['none']+=1; continue
    m=re.match(r'JS:([*^~+]?)(.*)',js[0]); tier={'*':'turbofan','^':'sparkplug','~':'ignition','+':'maglev','':'?'}[m.group(1)]
    c[tier]+=1
    if tier in ('sparkplug','ignition'): fn[(tier,m.group(2).replace('file:///work/main/','')[:90])]+=1
print('total %.0f'%(tot*200/n), {k:round(v*200/n,1) for k,v in c.items()})
for k,v in fn.most_common(int(sys.argv[3]) if len(sys.argv)>3 else 25): print('%6.1f  %s %s'%(v*200/n,*k))
