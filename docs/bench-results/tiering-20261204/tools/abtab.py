# medians [min-max] per tunnel of every figure of the bench results (rtt cold/warm, ttfb, bulk, CPU by process): abtab.py results.jsonl
import json,sys,statistics as st,collections
d=collections.defaultdict(list)
order=[]
for l in open(sys.argv[1]):
    r=json.loads(l)
    if not r.get('ok'): continue
    t=r['tunnel']; 
    if t not in order: order.append(t)
    test=r['test']
    if test=='rtt':
        for k in ('p50_us','p99_us'): d[(test,k,t)].append(r[k])
        for ph in ('cold','warm'):
            for k in ('p50_us','p99_us'): d[(test,ph+'_'+k,t)].append(r[ph][k])
    elif test=='ttfb':
        for k in ('p50_us','p99_us','per_s'): d[(test,k,t)].append(r[k])
    elif test.startswith('bulk'):
        d[(test,'MBps',t)].append(r.get('mb_per_s'))
        d[(test,'cpu_per_gib',t)].append((r.get('cpu_s_per_gib') or {}).get('total'))
    for role,v in (r.get('cpu_s') or {}).items():
        if role in ('client','connector','edge'): d[(test,'cpu_'+role,t)].append(v)
keys=sorted(set((a,b) for a,b,c in d))
print('%-28s'%'test/metric'+''.join('%20s'%t for t in order))
for a,b in keys:
    row='%-28s'%(a+' '+b)
    for t in order:
        v=[x for x in d.get((a,b,t),[]) if x is not None]
        row+='%20s'%('%.0f [%.0f–%.0f]'%(st.median(v),min(v),max(v)) if v and st.median(v)>=10 else ('%.2f'%st.median(v) if v else '-'))
    print(row)
