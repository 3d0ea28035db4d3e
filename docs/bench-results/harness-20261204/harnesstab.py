import json,statistics,collections,sys
# per tunnel and bulk test: MB/s per rep (rep 1 = the tunnel's first GiB), median, median of later reps, tunnel CPU-s
for f in sys.argv[1:]:
    print('==',f)
    rows=[json.loads(l) for l in open(f)]
    by=collections.defaultdict(list)
    for r in rows: by[(r['tunnel'],r['test'])].append(r)
    for (tun,t),rs in sorted(by.items(), key=lambda x:(x[0][1],x[0][0])):
        if not t.startswith('bulk'): continue
        rs.sort(key=lambda r:r['rep']); v=[r['mb_per_s'] for r in rs]; c=[r['tunnel_cpu_s'] for r in rs]
        print(f"{t:16} {tun:16} MB/s {[round(x) for x in v]} med {statistics.median(v):.0f} later {statistics.median(v[1:]):.0f} first/later {v[0]/statistics.median(v[1:]):.2f}; CPU-s {[round(x,2) for x in c]} med {statistics.median(c):.2f}")
