#!/bin/bash
# run2.sh OUT: perf system-wide (cpu-clock, call graphs, CLOCK_MONOTONIC) through a fresh tunnel's bulk reps; the client's and connector's PIDs noted
O=$1; rm -rf $O; mkdir -p $O; cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
python3 -c "import time; print(time.time()-time.monotonic())" > $O/clock-offset
perf record -a -e cpu-clock -F 2000 -g -k CLOCK_MONOTONIC -o $O/perf.all -- sleep 40 >/dev/null 2>&1 &
sleep 1
NODE_OPTIONS="--perf-basic-prof-only-functions" npm run bench -- --tunnels sallyport --reps 3 --only bulk --out $O/out > $O/log 2>&1 &
for i in $(seq 300); do p=$(pgrep -f "sallyport.mjs client" | head -1); [ -n "$p" ] && break; sleep 0.05; done
for i in $(seq 300); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.1; done
for p in $(pgrep -f "sallyport.mjs (client|connector)"); do tr '\0' ' ' < /proc/$p/cmdline | cut -c1-120 > $O/cmd.$p; done
wait %2 2>/dev/null; pkill -INT -f "perf record -a -e cpu-clock -F 2000"; sleep 3
grep "bulk" $O/log | grep rep
