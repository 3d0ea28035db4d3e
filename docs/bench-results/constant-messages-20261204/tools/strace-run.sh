#!/bin/bash
# usage: strace-run.sh ttfb|rtt TUNNEL OUTDIR — system call counts (strace -f -c, 3 s) of the
# tunnel's Node ends during a ttfb (10,000 sessions) or rtt (30,000 round trips) run; ROOT: the checkout
TEST=$1; T=$2; O=$3; rm -rf $O; mkdir -p $O
cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
if [ "$TEST" = rtt ]; then SIZE="--rtt-count 30000"; else SIZE="--ttfb-count 10000"; fi
npm run bench -- --tunnels $T --reps 1 --only $TEST $SIZE --out $O/out > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep 3
for p in $(pgrep -f "sallyport.mjs (client|connector)|chain-relay.ts (client|bind)" ); do
  c=$(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-100)
  (echo "$c" > $O/cmd.$p; timeout -s INT 3 strace -f -c -p $p -o $O/strace.$p >/dev/null 2>&1) &
done
wait %1 2>/dev/null; sleep 1
