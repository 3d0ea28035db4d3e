import json,sys,statistics as st,collections
# firstgib.py RESULTS...: per tunnel and direction, the fresh tunnel's first GiB (rep 1) against the median of the later reps: MB/s and tunnel CPU-s, ratio
for f in sys.argv[1:]:
    rows=collections.defaultdict(dict)
    for l in open(f):
        d=json.loads(l)
        if not d.get('ok') or not d['test'].startswith('bulk_'): continue
        rows[(d['tunnel'],d['test'])][d['rep']]=d
    print('##',f)
    for (t,test),reps in rows.items():
        first=reps.get(1); later=[r for k,r in reps.items() if k>1]
        if not first or not later: continue
        mb=st.median(r['mb_per_s'] for r in later); cpu=st.median(r['cpu_s']['total'] for r in later)
        byp=' '.join(f"{p} {first['cpu_s'][p]:.2f}/{st.median(r['cpu_s'][p] for r in later):.2f}" for p in ('client','edge','connector'))
        print(f"{t:14} {test:9} first {first['mb_per_s']:4} MB/s, later {mb:5.0f} ({first['mb_per_s']/mb:.2f} x); CPU {first['cpu_s']['total']:.2f} against {cpu:.2f} ({first['cpu_s']['total']/cpu:.2f} x)  [{byp}]")
