#!/usr/bin/env bash
# `validate` on an .xlsx against a plain Python openpyxl (read-only) script doing the same
# mapping, on the same generated workbook, in the same run: prints each one's best wall
# time of RUNS, the ratio (and that of the medians), and each one's peak RSS. Targets
# (issue 17): ratio at most 0.25, peak RSS under 128 MiB.
#
#   scripts/bench-validate-xlsx.sh [ROWS [RUNS]]      # default 200000 rows, 3 runs
#
# Needs cargo, python3 and openpyxl (pip install openpyxl). The workbook is the CSV of
# scripts/gen_contacts.py written with typed cells by examples/gen_workbook.rs (shared
# strings, date-time cells, numbers, booleans). A speed benchmark, not a test: CI does not
# run it.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-200000}"
runs="${2:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
cargo build --release --quiet --example gen_workbook
binary=target/release/helpcrunch-import
python3 scripts/gen_contacts.py "$rows" > "$work/contacts.csv"
target/release/examples/gen_workbook "$work/contacts.csv" "$work/contacts.xlsx"
echo "file: $rows rows, $(du -h "$work/contacts.xlsx" | cut -f1), $(nproc) cores"

best() { sort -n | head -1; }
rust_times=() python_times=() rust_rss=0 python_rss=0
for _ in $(seq "$runs"); do
  # Alternate, so both meet the same machine load.
  read -r seconds rss code < <(python3 scripts/measure.py \
    "$binary" validate "$work/contacts.xlsx" --out "$work/rust-out" --overwrite)
  [ "$code" -le 1 ] || { echo "validate failed with exit $code" >&2; exit 1; }
  rust_times+=("$seconds")
  rust_rss=$(python3 -c "print(max($rust_rss, $rss))")
  read -r seconds rss code < <(python3 scripts/measure.py \
    python3 scripts/validate_workbook_reference.py "$work/contacts.xlsx" "$work/python-out")
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
python3 - "$rust" "$python" "$rust_rss" "$rust_median" "$python_median" <<'PY'
import sys
rust, python, rss, rust_median, python_median = map(float, sys.argv[1:])
ratio = rust / python
print(f"ratio validate/python: {ratio:.3f} (target <= 0.25: {'met' if ratio <= 0.25 else 'NOT met'})")
print(f"ratio of the medians:  {rust_median / python_median:.3f} ({rust_median:.3f}s / {python_median:.3f}s)")
print(f"validate peak RSS: {rss:.1f} MiB (target < 128: {'met' if rss < 128 else 'NOT met'})")
PY
