#!/bin/bash
T=$1; O=$2; rm -rf $O; mkdir -p $O
cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
npm run bench -- --tunnels $T --reps 1 --only rtt --rtt-count 30000 --out $O/out > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep 4
for p in $(pgrep -f "sallyport.mjs (client|connector)|chain-relay.ts (client|bind)" ); do
  c=$(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-100)
  (echo "$c" > $O/cmd.$p; timeout -s INT 3 strace -f -c -p $p -o $O/strace.$p >/dev/null 2>&1) &
done
wait %1 2>/dev/null; sleep 1
