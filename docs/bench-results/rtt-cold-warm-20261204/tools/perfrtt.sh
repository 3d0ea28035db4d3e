#!/bin/bash
# usage: perfrtt.sh TUNNEL OUTDIR [BENCH ARGS…] — perf record (cpu-clock, on-CPU only, CLOCK_MONOTONIC) the tunnel's Node ends
# during an rtt run with --samples; perrt.py then divides by the round trips inside perf's window
# OUTDIR absolute (the bench runs in ROOT); BENCH ARGS, e.g. --compare NAME=DIR, go to npm run bench (eleventh session)
T=$1; O=$2; shift 2; rm -rf $O; mkdir -p $O
cd ${ROOT:-/work/main}; export PATH=$PWD/node_modules/.bin:$PATH
NODE_OPTIONS="--perf-basic-prof-only-functions" npm run bench -- --tunnels $T --reps 1 --only rtt --rtt-count 60000 --samples --out $O/out "$@" > $O/log 2>&1 &
for i in $(seq 100); do grep -q " up in " $O/log 2>/dev/null && break; sleep 0.2; done
sleep ${DELAY:-2}
for p in $(pgrep -f "sallyport.mjs (client|connector)|chain-relay.ts (client|bind)") $(pgrep -n workerd); do
  c=$(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-120)
  (echo "$c" > $O/cmd.$p; perf record -e cpu-clock -F 5000 -g -k CLOCK_MONOTONIC -p $p -o $O/perf.$p -- sleep 6 >/dev/null 2>&1) &
done
wait %1 2>/dev/null; sleep 1
grep -i "rtt.*rep 1" $O/log
