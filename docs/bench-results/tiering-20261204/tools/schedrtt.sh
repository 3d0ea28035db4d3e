#!/bin/bash
# schedrtt.sh ROOT OUT: sched events system-wide for 3 s of a warm rtt run
R=$1; O=$2; rm -rf $O; mkdir -p $O; cd $R; export PATH=$PWD/node_modules/.bin:$PATH
npm run bench -- --tunnels sallyport --reps 1 --only rtt --rtt-count 30000 --samples --out $O/out > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep 5
names=""
for p in $(pgrep -f "sallyport.mjs connector"); do names="$names $p=connector"; done
for p in $(pgrep -f "sallyport.mjs client"); do names="$names $p=client"; done
for p in $(pgrep -n workerd); do names="$names $p=workerd"; done
for p in $(pgrep -f "bench/backend.ts"); do names="$names $p=backend"; done
for p in $(pgrep -f "bench/run.ts" | tail -1); do names="$names $p=driver"; done
echo "$names" > $O/names
perf record -e sched:sched_switch -e sched:sched_wakeup -a -k CLOCK_MONOTONIC -o $O/sched.data -- sleep 3 > /dev/null 2>&1
wait %1 2>/dev/null
perf script -i $O/sched.data -F comm,tid,cpu,time,event,trace > $O/sched.txt 2>/dev/null
grep rtt $O/log | grep "rep 1"
