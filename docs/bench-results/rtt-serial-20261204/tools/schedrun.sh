#!/bin/bash
# run.sh TUNNEL OUT: sched events system-wide for 3 s of a warm rtt run of TUNNEL
T=$1; O=$2; rm -rf $O; mkdir -p $O; cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
npm run bench -- --tunnels $T --reps 1 --only rtt --rtt-count 40000 --samples --out $O/out > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep 4
ps -eLo pid,tid,comm,args | grep -E "sallyport.mjs|chain-relay|workerd|backend.ts|bench/run.ts" | grep -v grep > $O/threads
perf record -e sched:sched_switch -e sched:sched_wakeup -a -k CLOCK_MONOTONIC -o $O/sched.data -- sleep 3 > /dev/null 2>&1
wait %1 2>/dev/null
perf script -i $O/sched.data -F comm,tid,cpu,time,event,trace > $O/sched.txt 2>/dev/null
grep rtt $O/log | grep "rep 1"
