import sys,statistics,glob
# dumps in time order, tunnels repeating in NAMES order; p50/p99 all, cold (first quarter), warm (rest)
names=sys.argv[1].split(','); files=sorted(sys.argv[2:])
res={n:[] for n in names}
def pc(a,p): a=sorted(a); return a[min(len(a)-1,int(len(a)*p/100))]
for i,f in enumerate(files):
    us=[float(l.split()[1]) for l in open(f) if l.strip()]
    q=len(us)//4
    res[names[i%len(names)]].append((pc(us,50),pc(us,99),pc(us[:q],50),pc(us[:q],99),pc(us[q:],50),pc(us[q:],99)))
for k in names:
    m=[statistics.median(x[j] for x in res[k]) for j in range(6)]
    print('%-10s all %5.0f/%5.0f  cold %5.0f/%5.0f  warm %5.0f/%5.0f   (n=%d)'%(k,*m,len(res[k])))
