#!/bin/bash
# usage: perfedge.sh TUNNEL OUTDIR — perf record (cpu-clock) the tunnel's workerd during a ttfb run
T=$1; O=$2; rm -rf $O; mkdir -p $O
cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
npm run bench -- --tunnels $T --reps 1 --only ttfb --ttfb-count 20000 --out $O/out > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep 2
p=$(pgrep -n workerd)
tr '\0' ' ' < /proc/$p/cmdline | cut -c1-100 > $O/cmd
perf record -e cpu-clock -F 5000 -g -p $p -o $O/perf.data -- sleep 6 >/dev/null 2>&1
wait %1 2>/dev/null
grep "sessions/s" $O/log | head -1
