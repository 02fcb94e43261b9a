#!/usr/bin/env bash
# `validate` against a plain Python csv + json script doing the same mapping, on the same
# generated file, in the same run: prints each one's best wall time of RUNS, the ratio (and
# that of the medians), and each one's peak RSS. Targets (issue 3): ratio at most 0.10, peak
# RSS under 64 MiB.
#
#   scripts/bench-validate.sh [ROWS [RUNS]]      # default 200000 rows, 5 runs
#
# Needs cargo and python3 (3.11+) only. A speed benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-200000}"
runs="${2:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
python3 scripts/gen_contacts.py "$rows" > "$work/contacts.csv"
echo "file: $rows rows, $(du -h "$work/contacts.csv" | cut -f1), $(nproc) cores"
scripts/bench-compare.sh "$work/contacts.csv" scripts/validate_reference.py "$runs" 0.10 64
