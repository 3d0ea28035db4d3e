#!/bin/bash
# ptrace.sh TUNNEL OUT: perf trace -s (system-call counts and durations) of the Node ends for 3 s of a warm rtt run
T=$1; O=$2; rm -rf $O; mkdir -p $O; cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
npm run bench -- --tunnels $T --reps 1 --only rtt --rtt-count 40000 --samples --out $O/out > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep 4
for p in $(pgrep -f "sallyport.mjs (client|connector)|chain-relay.ts (client|bind)"); do
  r=$(tr '\0' ' ' < /proc/$p/cmdline | grep -oE "(client|connector|bind) --" | head -1 | cut -d' ' -f1)
  (timeout -s INT 3 perf trace -s -p $p -o $O/trace.$r >/dev/null 2>&1) &
done
wait %1 2>/dev/null; sleep 1
grep "rtt.*rep 1" $O/log
