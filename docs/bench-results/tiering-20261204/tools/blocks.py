import glob,statistics as st,sys
# per-block medians (and p99s with --p99) of --samples files: blocks.py SAMPLES_DIR TEST BLOCK [TUNNEL...]
d,test,n=sys.argv[1],sys.argv[2],int(sys.argv[3]); tunnels=[a for a in sys.argv[4:] if a!='--p99']; p99='--p99' in sys.argv
for t in tunnels:
  for f in sorted(glob.glob(f'{d}/{t}-{test}-*.txt')):
    v=[float(l.split()[1]) for l in open(f) if l.strip()]
    b=[v[i:i+n] for i in range(0,len(v),n)]
    print('%-30s'%f.split('/')[-1], 'p50:', ' '.join('%5.0f'%st.median(x) for x in b), *(['  p99:', ' '.join('%5.0f'%sorted(x)[int(len(x)*0.99)-1] for x in b)] if p99 else []))
