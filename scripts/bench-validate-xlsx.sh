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
python3 scripts/gen_contacts.py "$rows" > "$work/contacts.csv"
target/release/examples/gen_workbook "$work/contacts.csv" "$work/contacts.xlsx"
echo "file: $rows rows, $(du -h "$work/contacts.xlsx" | cut -f1), $(nproc) cores"
scripts/bench-compare.sh "$work/contacts.xlsx" scripts/validate_workbook_reference.py "$runs" 0.25 128
