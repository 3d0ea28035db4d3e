import sys
# usage: map-overlaps.py /tmp/perf-PID.map NAME — the perf map's entries for functions whose name
# holds NAME, and the other functions whose code later took the same addresses (V8 frees code
# and reuses the space; perf names an address after one entry, so a sample there may belong to
# another function). No overlaps: the function's figures stand.
entries = []
for line in open(sys.argv[1]):
    addr, size, name = line.rstrip("\n").split(" ", 2)
    entries.append((int(addr, 16), int(size, 16), name))
for a, size, name in (e for e in entries if sys.argv[2] in e[2]):
    others = [e[2] for e in entries if e[0] < a + size and a < e[0] + e[1] and e[2] != name]
    print(f"{a:#x} {size:6d} {name[:60]}  overlaps {len(others)}: {'; '.join(o[:50] for o in others[:6])}")
