#!/usr/bin/env python3
"""How far honest replicas that never crashed are from each other at the gathers of a launched
run: the yardstick of the rejoin test (tests/cli_launch.rs, BENCHMARKS.md "Rejoining").

    byzsgd launch --dataset fashion-mnist --steps 400 --gather-period 5 --eval-every 5 --out D
    python3 benches/rejoin_spread.py D [FROM_STEP]

For each honest replica n and each gather with a model file from every honest replica, d is n's
distance to the coordinate-wise median of the other honest replicas' models, and spread their
largest pairwise distance. Printed: how often d > spread at that gather (the one-gather bound),
and how often d > the largest spread from FROM_STEP (default 60) to the end (the test's bound),
with the worst ratio. Plain Python, no packages."""
import math, os, struct, sys

d = sys.argv[1]
since = int(sys.argv[2]) if len(sys.argv) > 2 else 60
csv = open(os.path.join(d, "nodes.csv")).read().splitlines()[1:]
honest = [l.split(",")[0] for l in csv if l.split(",")[1] == "server" and l.split(",")[2] == "false"]

def load(n, s):
    p = os.path.join(d, "nodes", n, "models", f"{s}.f32")
    if not os.path.exists(p):
        return None
    b = open(p, "rb").read()
    return struct.unpack(f"<{len(b) // 4}f", b)

def dist(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))

def median(vs):
    def mid(c):
        c, h = sorted(c), len(c) // 2
        return c[h] if len(c) % 2 else (c[h - 1] + c[h]) / 2
    return [mid(c) for c in zip(*vs)]

steps = sorted(int(f[:-4]) for f in os.listdir(os.path.join(d, "nodes", honest[0], "models")))
rows = []  # (step, {n: (d, spread)})
for s in steps:
    ms = {n: load(n, s) for n in honest}
    if any(m is None for m in ms.values()):
        continue
    row = {}
    for n in honest:
        others = [ms[o] for o in honest if o != n]
        spread = max(dist(others[i], others[j]) for i in range(len(others)) for j in range(i + 1, len(others)))
        row[n] = (dist(ms[n], median(others)), spread)
    rows.append((s, row))
pairs = len(rows) * len(honest)
one = sum(1 for _, r in rows for n in honest if r[n][0] > r[n][1])
print(f"{d}: honest replicas {', '.join(honest)}; {len(rows)} gathers with every honest model")
print(f"one-gather bound (d <= spread at that gather): broken at {one} of {pairs} (replica, gather) pairs")
late = [(s, r) for s, r in rows if s >= since]
worst, over = 0.0, []
for n in honest:
    yard = max(r[n][1] for _, r in late)
    for s, r in late:
        ratio = r[n][0] / yard if yard > 0 else 0.0
        worst = max(worst, ratio)
        if ratio > 1:
            over.append(f"{n}@{s}: {ratio:.3f}x")
print(f"the test's bound (d <= largest spread since step {since}): broken at {len(over)} of "
      f"{len(late) * len(honest)} pairs {over}; worst ratio {worst:.3f}")
