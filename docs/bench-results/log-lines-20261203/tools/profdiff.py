import json,sys,collections
def selfby(p):
    d=json.load(open(p)); nodes={n['id']:n for n in d['nodes']}
    dt=collections.Counter()
    for s,t in zip(d['samples'],d['timeDeltas']): dt[s]+=t
    res=collections.Counter()
    for k,v in dt.items():
        cf=nodes[k]['callFrame']
        if cf['functionName']=='(idle)': continue
        u=cf['url']
        mod='ws' if '/ws/' in u else 'prom' if 'prom-client' in u else '/'.join(u.split('/')[-2:]) if u else ''
        res['%s %s'%(cf['functionName'] or '(anon)',mod)]+=v
    return res
a=selfby(sys.argv[1]); b=selfby(sys.argv[2]); n=float(sys.argv[3]) if len(sys.argv)>3 else 1
print('total busy us/session: A %.0f B %.0f'%(sum(a.values())/n,sum(b.values())/n))
keys=set(a)|set(b)
rows=sorted(keys,key=lambda k:-(a[k]-b[k]))
for k in rows[:45]: print('%8.1f %8.1f %8.1f  %s'%(a[k]/n,b[k]/n,(a[k]-b[k])/n,k))
print('...')
for k in rows[-10:]: print('%8.1f %8.1f %8.1f  %s'%(a[k]/n,b[k]/n,(a[k]-b[k])/n,k))
