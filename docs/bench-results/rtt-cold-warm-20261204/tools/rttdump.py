import sys,statistics
# per dump file: p50, p99, share of slow samples (>3x p50) and their spacing in time (periodic timers show as a mode)
for f in sys.argv[1:]:
    rows=[tuple(map(float,l.split())) for l in open(f) if l.strip()]
    us=sorted(r[1] for r in rows); n=len(us)
    p50=us[n//2]; p99=us[int(n*0.99)]
    slow=[r for r in rows if r[1]>2.5*p50]
    t=[r[0] for r in slow]
    gaps=[b-a for a,b in zip(t,t[1:])]
    dur=rows[-1][0]-rows[0][0]
    # gaps histogram in ms buckets
    import collections
    h=collections.Counter(int(g//10)*10 for g in gaps)
    print(f"{f}: n={n} dur={dur:.0f}ms p50={p50:.0f} p99={p99:.0f} slow(>2.5x)={len(slow)} every {dur/max(1,len(slow)):.1f}ms; gap hist(10ms):",sorted(h.items())[:12])
