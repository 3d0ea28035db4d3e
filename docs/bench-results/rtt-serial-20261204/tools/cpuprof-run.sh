#!/bin/bash
# run.sh TUNNEL OUT: V8 CPU profiles (100 µs sampling) of every Node process of an rtt run; the Node ends' PIDs noted by role
T=$1; O=$2; rm -rf $O; mkdir -p $O/prof; cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
NODE_OPTIONS="--cpu-prof --cpu-prof-dir=$O/prof --cpu-prof-interval 100" npm run bench -- --tunnels $T --reps 1 --only rtt --rtt-count 30000 --samples --out $O/out > $O/log 2>&1 &
for i in $(seq 300); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.1; done
sleep 1
for p in $(pgrep -f "sallyport.mjs (client|connector)|chain-relay.ts (client|bind)"); do
  r=$(tr '\0' ' ' < /proc/$p/cmdline | grep -oE "(client|connector|bind) --" | head -1 | cut -d' ' -f1); echo "$p $r" >> $O/pids
done
wait %1; sleep 2
grep "rtt.*rep 1" $O/log
