#!/bin/bash
# alt.sh OUT ROUNDS: rtt of chain, chain-msgs-tiered, sallyport, alternately with and without an idle-priority spinner per vCPU
O=$1; N=${2:-3}; mkdir -p $O; cd /work/main; export PATH=$PWD/node_modules/.bin:$PATH
for r in $(seq $N); do
  for mode in spin plain; do
    pids=""
    if [ $mode = spin ]; then for c in 0 1; do chrt --idle 0 taskset -c $c bash -c 'while :; do :; done' & pids="$pids $!"; done; fi
    npm run bench -- --tunnels chain,chain-msgs-tiered,sallyport --interleave --reps 2 --only rtt --samples --out $O/$mode-$r > $O/$mode-$r.log 2>&1
    [ -n "$pids" ] && kill $pids
  done
done
echo alldone
