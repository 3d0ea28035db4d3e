import json,sys,statistics as st,collections
f=sys.argv[1]; d=collections.defaultdict(list)
for l in open(f):
    r=json.loads(l)
    if not r.get('ok'): continue
    if r['test'].startswith('bulk'):
        d[(r['test'],r['tunnel'],'MB/s')].append(r['mb_per_s'])
        for k,v in r['cpu_s_per_gib'].items():
            if k in('client','connector','edge','total'): d[(r['test'],r['tunnel'],k)].append(v)
    elif r['test'] in('rtt','ttfb','paced'):
        for k in ('p50_us','p99_us','per_s'):
            if k in r: d[(r['test'],r['tunnel'],k)].append(r[k])
        for k,v in r['cpu_s'].items():
            if k in('client','connector','edge'): d[(r['test'],r['tunnel'],'cpu '+k)].append(v)
for k in sorted(d):
    v=d[k]; print('%-10s %-14s %-10s median %8.2f  [%s–%s] n=%d'%(k[0],k[1],k[2],st.median(v),min(v),max(v),len(v)))
