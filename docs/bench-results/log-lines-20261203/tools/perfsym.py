import subprocess,sys,collections
# usage: perfsym.py PERFDATA SESSIONS  -> per-session µs by symbol (self), sample period 200us
def load(f):
    out=subprocess.run(['perf','report','-i',f,'--no-children','--sort','dso,sym','-g','none','-q','--stdio','--percent-limit','0'],capture_output=True,text=True).stdout
    n=int(subprocess.run(f"perf script -i {f} -F period | wc -l",shell=True,capture_output=True,text=True).stdout)
    r={}
    for line in out.splitlines():
        parts=line.split()
        if not parts or not parts[0].endswith('%'): continue
        pct=float(parts[0][:-1]); key=' '.join(parts[1:])
        r[key]=pct/100*n*200  # us
    return r
a=load(sys.argv[1]); na=float(sys.argv[2]); b=load(sys.argv[3]); nb=float(sys.argv[4])
keys=set(a)|set(b)
rows=sorted(keys,key=lambda k:-(a.get(k,0)/na-b.get(k,0)/nb))
print('A %.0f B %.0f us/session'%(sum(a.values())/na,sum(b.values())/nb))
for k in rows[:int(sys.argv[5]) if len(sys.argv)>5 else 40]: print('%7.1f %7.1f %7.1f  %s'%(a.get(k,0)/na,b.get(k,0)/nb,a.get(k,0)/na-b.get(k,0)/nb,k[:110]))
