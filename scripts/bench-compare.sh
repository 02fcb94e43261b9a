#!/usr/bin/env bash
# The comparison both validate benchmarks run: `helpcrunch-import validate INPUT` and the
# Python script `REFERENCE INPUT OUT`, alternately, RUNS times each; prints each one's best
# wall time, the ratio (and that of the medians), each one's peak RSS, the rows each found
# invalid, and whether the targets are met.
#
#   scripts/bench-compare.sh INPUT REFERENCE RUNS RATIO_TARGET RSS_TARGET_MIB
#
# Called by bench-validate.sh and bench-validate-xlsx.sh once they built the binary and
# wrote INPUT.
set -euo pipefail
cd "$(dirname "$0")/.."
input="$1" reference="$2" runs="$3" ratio_target="$4" rss_target="$5"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
binary=target/release/helpcrunch-import

best() { sort -n | head -1; }
rust_times=() python_times=() rust_rss=0 python_rss=0
for _ in $(seq "$runs"); do
  # Alternate, so both meet the same machine load.
  read -r seconds rss code < <(python3 scripts/measure.py \
    "$binary" validate "$input" --out "$work/rust-out" --overwrite)
  [ "$code" -le 1 ] || { echo "validate failed with exit $code" >&2; exit 1; }
  rust_times+=("$seconds")
  rust_rss=$(python3 -c "print(max($rust_rss, $rss))")
  read -r seconds rss code < <(python3 scripts/measure.py \
    python3 "$reference" "$input" "$work/python-out")
  [ "$code" -eq 0 ] || { echo "the Python script failed with exit $code" >&2; exit 1; }
  python_times+=("$seconds")
  python_rss=$(python3 -c "print(max($python_rss, $rss))")
done
rust=$(printf '%s\n' "${rust_times[@]}" | best)
python=$(printf '%s\n' "${python_times[@]}" | best)

# Both must have found the same rows invalid.
failed() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['failed'])" "$1"; }
echo "invalid rows: validate $(failed "$work/rust-out/summary.json"), python $(failed "$work/python-out/summary.json")"

echo "validate: best ${rust}s of $runs (${rust_times[*]}), peak RSS ${rust_rss} MiB"
echo "python:   best ${python}s of $runs (${python_times[*]}), peak RSS ${python_rss} MiB"
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
rust_median=$(printf '%s\n' "${rust_times[@]}" | median)
python_median=$(printf '%s\n' "${python_times[@]}" | median)
python3 - "$rust" "$python" "$rust_rss" "$rust_median" "$python_median" "$ratio_target" "$rss_target" <<'PY'
import sys
rust, python, rss, rust_median, python_median, ratio_target, rss_target = map(float, sys.argv[1:])
ratio = rust / python
print(f"ratio validate/python: {ratio:.3f} (target <= {ratio_target:.2f}: {'met' if ratio <= ratio_target else 'NOT met'})")
print(f"ratio of the medians:  {rust_median / python_median:.3f} ({rust_median:.3f}s / {python_median:.3f}s)")
print(f"validate peak RSS: {rss:.1f} MiB (target < {rss_target:.0f}: {'met' if rss < rss_target else 'NOT met'})")
PY
