#!/usr/bin/env bash
# How often `windtunnel compare` is wrong, and how close the capacity search gets, on this
# machine (the figures in the README's "Comparing runs" section come from it):
#
#   A/A  PAIRS pairs of identical runs of the demo's `browse_and_buy` (same code, same seed),
#        compared with the default tolerances: how many pairs are flagged (false positives).
#   A/B  PAIRS pairs where the new run adds a 5 ms delay to every `checkout` request (a
#        turbulence delay; about +18% at its p50): how many are flagged, and in how many the
#        interval of checkout's p50 covers the injected change (5 ms over the base's p50).
#   capacity  ROUNDS capacity searches with repeats against the shop's `/serial` route (one
#        request at a time, 5 ms each), each against the capacity measured independently in
#        the same round (examples/capacity_bench.rs).
#
# Usage: scripts/compare-bench.sh            (PAIRS=20 ROUNDS=20 by default)
#        PAIRS=5 ROUNDS=3 scripts/compare-bench.sh
# Every run is bounded: a demo run lasts 6 s, a capacity round well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-20}
ROUNDS=${ROUNDS:-20}
OUT=${OUT:-target/compare-bench}
rm -rf "$OUT"
mkdir -p "$OUT"

cargo build -q -p windtunnel-cli
cargo build -q --release --example capacity_bench
LOAD=$(cargo test -q --test load --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "load" and m.get("executable"):
        print(m["executable"])')
WT=target/debug/windtunnel

run() { # ROOT RUN_ID [FLAGS...]
    local root=$1 id=$2
    shift 2
    "$LOAD" --exact browse_and_buy --seed 42 --out "$root" --run-id "$id" "$@" >/dev/null 2>&1 || true
}

echo "A/A and A/B: $PAIRS pairs each of browse_and_buy (debug build, as the README's demo)"
aa_flagged=0
ab_flagged=0
ab_covered=0
for i in $(seq 1 "$PAIRS"); do
    root="$OUT/pair-$i"
    run "$root" base
    run "$root" same
    run "$root" slow --turbulence 'slow: delay=5ms name="checkout"'
    set +e
    "$WT" --root "$root" compare base same --json >"$root/aa.json"
    aa=$?
    "$WT" --root "$root" compare base slow --json >"$root/ab.json"
    ab=$?
    set -e
    [ "$aa" -eq 1 ] && aa_flagged=$((aa_flagged + 1))
    [ "$ab" -eq 1 ] && ab_flagged=$((ab_flagged + 1))
    covered=$(python3 - "$root/ab.json" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
line = next(l for l in v["lines"] if l["subject"] == "checkout" and l["metric"] == "p50")
expected = 5.0 / line["base"]
lo, hi = line["interval"]
print(1 if lo <= expected <= hi else 0)
EOF
)
    ab_covered=$((ab_covered + covered))
    printf 'pair %2d: A/A exit %d, A/B exit %d, interval covers the injected change: %s\n' \
        "$i" "$aa" "$ab" "$covered"
done
echo "A/A: $aa_flagged of $PAIRS identical pairs flagged"
echo "A/B: $ab_flagged of $PAIRS slowed pairs flagged; checkout p50's interval covered the injected change in $ab_covered"

echo "capacity: $ROUNDS searches with 2 repeats against /serial"
target/release/examples/capacity_bench "$ROUNDS" 2 2>"$OUT/capacity.jsonl" | tee "$OUT/capacity.json"
cat "$OUT/capacity.jsonl"
