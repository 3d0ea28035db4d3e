import sys
# p50/p99 per quarter of each RTT dump: is the tail warm-up (early) or steady?
for f in sys.argv[1:]:
    us=[float(l.split()[1]) for l in open(f) if l.strip()]
    q=len(us)//4; out=[]
    for i in range(4):
        s=sorted(us[i*q:(i+1)*q]); out.append(f"{s[len(s)//2]:4.0f}/{s[int(len(s)*.99)]:5.0f}")
    print(f.split('/')[-1], '  '.join(out))
