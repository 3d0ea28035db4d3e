#!/bin/bash
# Samples /proc/PID/io and CPU ticks (utime stime) of `sallyport connector` and `sallyport client` processes every 0.5 s, for
# taking apart where their CPU per GiB goes during `npm run bench` (docs/performance.md, "The two modes"). Run beside it:
#   bench/io-monitor.sh > io.log &  npm run bench -- --only bulk …;  kill %1
while true; do
  for p in $(pgrep -f "sallyport.mjs (connector|client)"); do
    role=$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -o "sallyport.mjs [a-z]*" | cut -d' ' -f2)
    io=$(tr '\n' ' ' < /proc/$p/io 2>/dev/null)
    st=$(cut -d' ' -f14,15 /proc/$p/stat 2>/dev/null)
    echo "$(date +%s.%N) $p $role $st $io"
  done
  sleep 0.5
done
