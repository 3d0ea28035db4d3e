import sys
# clusters of slow samples (> K x p50, within 5 ms of each other): start (ms from the run's start), length, samples, worst
K=float(sys.argv[2]) if len(sys.argv)>2 else 2.5
f=sys.argv[1]
rows=[tuple(map(float,l.split())) for l in open(f) if l.strip()]
us=sorted(r[1] for r in rows); p50=us[len(us)//2]; t0=rows[0][0]
cl=[]
for t,u in rows:
    if u<=K*p50: continue
    if cl and t-cl[-1][1]<5: cl[-1][1]=t; cl[-1][2]+=1; cl[-1][3]=max(cl[-1][3],u); cl[-1][4]+=u
    else: cl.append([t,t,1,u,u])
print(f"{f} p50={p50:.0f} clusters={len(cl)}")
for a,b,n,w,s in cl: print(f"  {a-t0:8.1f} ms  +{b-a:6.1f}  n={n:3d} worst={w:6.0f} sum={s/1000:6.1f}ms")
