#!/usr/bin/env bash
# How exactly `windtunnel replay` repeats a run's faults (the figures in the README's
# Turbulence section come from it): the demo's `brownout` (a 2 s window of HTTP faults in a
# 6 s timed load, and a latency toxic flapping every 2 s) runs once with a seed, then is
# replayed ROUNDS times from that run's fault tape; each replay compares its own tape with the
# original. Also, for contrast, ROUNDS runs with the seed alone (no tape), whose HTTP faults
# are compared with the original's by identity.
#
# Usage: scripts/replay-bench.sh              (ROUNDS=20 by default)
# Every run is bounded: a brownout run lasts 6 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
OUT=${OUT:-target/replay-bench}
rm -rf "$OUT"
mkdir -p "$OUT"
cargo build -q --release -p windtunnel-cli
WT=target/release/windtunnel

WINDTUNNEL_OUT="$OUT" WINDTUNNEL_PROGRESS=0 cargo test -q --test load -- --exact brownout --seed 42 >"$OUT/original.log" 2>&1
ORIGINAL=$(readlink -f "$OUT/latest")
matched=0
for i in $(seq "$ROUNDS"); do
  "$WT" --root "$OUT" replay "$ORIGINAL/report.json" >"$OUT/replay-$i.log" 2>&1 || true
  if grep -q "brownout: the faults match" "$OUT/replay-$i.log"; then
    matched=$((matched + 1))
  else
    grep "faults:" "$OUT/replay-$i.log" || true
  fi
done
echo "replayed from the tape: $matched of $ROUNDS replays fired exactly the original's faults"
python3 - "$ORIGINAL" "$OUT/runs" <<'PY'
import glob, json, os, sys
tape = lambda run: json.load(open(os.path.join(run, "tapes/load--brownout.json")))
a = tape(sys.argv[1])
for kind, what in (("requests", "HTTP faults"), ("connections", "toxic decisions")):
    want = {tuple(x) for x in a[kind]}
    exact, missing = 0, []
    for run in sorted(glob.glob(os.path.join(sys.argv[2], "*-replay-*"))):
        got = {tuple(x) for x in tape(run)[kind]}
        exact += got == want
        missing.append(len(want - got))
    print(f"  {what}: {len(want)} taped, identical in {exact} of {len(missing)} replays "
          f"(missing at most {max(missing)}; new never: checked by the replay itself)")
PY

# The seed alone: how many of the original's HTTP faults the same seed fires again.
for i in $(seq "$ROUNDS"); do
  WINDTUNNEL_OUT="$OUT/seed" WINDTUNNEL_PROGRESS=0 cargo test -q --test load -- --exact brownout --seed 42 >/dev/null 2>&1 || true
  cp "$(readlink -f "$OUT/seed/latest")/tapes/load--brownout.json" "$OUT/seed-$i.json"
done
python3 - "$ORIGINAL/tapes/load--brownout.json" "$OUT" "$ROUNDS" <<'PY'
import json, sys
original = json.load(open(sys.argv[1]))
a = {tuple(r) for r in original["requests"]}
same = []
for i in range(1, int(sys.argv[3]) + 1):
    b = {tuple(r) for r in json.load(open(f"{sys.argv[2]}/seed-{i}.json"))["requests"]}
    same.append(len(a & b))
print(f"the seed alone: of {len(a)} HTTP faults, {min(same)} to {max(same)} fired again "
      f"(median {sorted(same)[len(same) // 2]}); identical sets: {sum(1 for i in range(len(same)) if same[i] == len(a))} of {len(same)}")
PY
