#!/usr/bin/env bash
# Indexing an account (issue 15): lists an emulated HelpCrunch account of CONTACTS customers
# into a fresh sync state and prints the contacts indexed, the wall time, the importer's peak
# RSS and CPU time, the listing requests, and how long the same listing takes at HelpCrunch's
# documented 120 requests/min. Then lists it again, killed with SIGKILL halfway and resumed,
# and checks that the state ends with exactly CONTACTS contacts. Target: peak RSS under 64 MiB
# at 200,000 contacts.
#
#   scripts/bench-index.sh [CONTACTS]      # default 200000
#
# The account is the sandbox (`sandbox --seed-contacts`, NDJSON from
# scripts/gen_seed_contacts.py) on loopback with no rate limit, and the importer is told
# --rate 100000/s, so the emulator's speed bounds the run, not the pacing. Needs cargo,
# python3 and curl. A benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
contacts="${1:-200000}"
bin=target/release/helpcrunch-import
work="$(mktemp -d)"
sandbox_pid=""
cleanup() {
    if [ -n "$sandbox_pid" ]; then
        kill "$sandbox_pid" 2>/dev/null || true
        wait "$sandbox_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

nice -n 10 cargo build --release --locked --quiet
export HELPCRUNCH_API_KEY=anything
pages=$(( (contacts + 99) / 100 ))

python3 scripts/gen_seed_contacts.py "$contacts" > "$work/seed.ndjson"
# A few rows of the account, as it holds them: the plan has something to compare, and the
# resuming import finds them unchanged and sends nothing but the listing.
python3 - "$work/seed.ndjson" > "$work/rows.csv" <<'PY'
import csv, json, sys
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["userId", "email", "name"])
with open(sys.argv[1], encoding="utf-8") as seed:
    for _, line in zip(range(3), seed):
        customer = json.loads(line)
        out.writerow([customer["userId"], customer["email"], customer["name"]])
PY

# --- the sandbox, holding the account ---------------------------------------------------
loading=$(date +%s.%N)
"$bin" sandbox --port 0 --seed-contacts "$work/seed.ndjson" \
    > "$work/sandbox.out" 2> "$work/sandbox.err" &
sandbox_pid=$!
until grep -q listening "$work/sandbox.out" 2>/dev/null; do
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then
        echo "the sandbox did not start:" >&2
        cat "$work/sandbox.err" >&2
        exit 1
    fi
    sleep 0.1
done
url=$(grep -o 'http://[^ ]*/v1' "$work/sandbox.out")
stats="${url%/v1}/sandbox/stats"
loaded=$(python3 -c "print(f'{$(date +%s.%N) - $loading:.1f}')")

# The sandbox's counter of one endpoint (grep, not Python: the kill below polls it).
served() {
    curl -sf "$stats" | grep -o "\"$1\":[0-9]*" | cut -d: -f2
}
# All requests the sandbox has served.
served_all() {
    curl -sf "$stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
}
# The sandbox's CPU seconds so far (user + system).
sandbox_cpu() {
    python3 - "$sandbox_pid" <<'PY'
import os, sys
fields = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print(f"{(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.2f}")
PY
}
sandbox_mib() { # VmRSS or VmHWM of the sandbox, in MiB
    awk -v field="$1:" '$1 == field { printf "%.0f", $2 / 1024 }' "/proc/$sandbox_pid/status"
}
# Contacts in a state's account table, and its meta rows.
state_count() {
    python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM account").fetchone()[0])' "$1"
}
state_meta() {
    python3 -c 'import sqlite3, sys; print(dict(sqlite3.connect(sys.argv[1]).execute("SELECT name, value FROM meta WHERE name LIKE ?", ("index%",)).fetchall()))' "$1"
}
# Runs the command under scripts/measure.py and prints `SECONDS MIB EXITCODE USER SYS`: the
# last two the CPU seconds of the importer (and of measure.py's own Python, a few hundredths).
measured() {
    python3 -c '
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(done.stdout.strip(), f"{usage.ru_utime:.2f} {usage.ru_stime:.2f}")
' python3 scripts/measure.py "$@"
}

echo "account: $contacts contacts ($(du -h "$work/seed.ndjson" | cut -f1) of NDJSON), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sandbox: loaded in ${loaded}s, RSS $(sandbox_mib VmRSS) MiB holding them (peak $(sandbox_mib VmHWM) MiB while loading)"

# --- 1. a full listing into a fresh state ----------------------------------------------
state="$work/state.db"
gets0=$(served "GET /customers")
cpu0=$(sandbox_cpu)
read -r secs mib code user sys < <(measured "$bin" plan "$work/rows.csv" --mode upsert \
    --state "$state" --index always --base-url "$url" --rate 100000/s --out "$work/plan")
gets=$(( $(served "GET /customers") - gets0 ))
sandbox_secs=$(python3 -c "print(f'{$(sandbox_cpu) - $cpu0:.2f}')")
indexed=$(state_count "$state")
echo
echo "full listing (plan --index always):"
echo "  exit code:         $code"
echo "  contacts indexed:  $indexed of $contacts ($(state_meta "$state"))"
echo "  requests:          $gets GET /customers (expected $pages)"
echo "  wall:              ${secs}s ($(python3 -c "print(f'{$gets / $secs:.0f}')") pages/s)"
echo "  importer peak RSS: ${mib} MiB (target < 64: $(python3 -c "print('met' if $mib < 64 else 'MISSED')"))"
echo "  importer CPU:      ${user}s user + ${sys}s system ($(python3 -c "print(f'{($user + $sys) * 1e6 / max($indexed, 1):.0f}')") µs a contact)"
echo "  sandbox CPU:       ${sandbox_secs}s while it listed"
echo "  state file:        $(du -h "$state" | cut -f1)"
echo "  at 120/min:        $gets requests ÷ 2/s = $(python3 -c "s = $gets / 2; print(f'{s:.0f} s = {s / 60:.1f} min')")"
ok=1
if [ "$code" != 0 ] || [ "$indexed" != "$contacts" ] || [ "$gets" != "$pages" ]; then
    echo "  FAILED: exit $code, $indexed contacts, $gets requests" >&2
    ok=0
fi

# --- 2. killed halfway, then resumed -----------------------------------------------------
state="$work/resumed.db"
gets0=$(served "GET /customers")
"$bin" plan "$work/rows.csv" --mode upsert --state "$state" --index always \
    --base-url "$url" --rate 100000/s --out "$work/killed" > /dev/null 2>&1 &
killed_pid=$!
started=$(date +%s.%N)
until [ $(( $(served "GET /customers") - gets0 )) -ge $(( pages / 2 )) ]; do
    sleep 0.05
done
# (stderr off: bash reports the killed job there)
{ kill -KILL "$killed_pid"; wait "$killed_pid" || true; } 2>/dev/null
after=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")
gets_killed=$(( $(served "GET /customers") - gets0 ))
held=$(state_count "$state")
echo
echo "killed (SIGKILL) after ${after}s, $gets_killed pages requested:"
echo "  state holds:       $held contacts ($(state_meta "$state"))"
# What a run after a killed one does: `import --index auto` goes on with the listing (the
# rows are the account's own, unchanged: it sends nothing else). `plan --index auto` only
# uses a complete index; it does not go on with a listing.
all0=$(served_all)
gets0=$(served "GET /customers")
read -r secs mib code user sys < <(measured "$bin" import "$work/rows.csv" --mode upsert \
    --state "$state" --index auto --base-url "$url" --rate 100000/s --out "$work/resume")
gets_resumed=$(( $(served "GET /customers") - gets0 ))
others=$(( $(served_all) - all0 - gets_resumed ))
final=$(state_count "$state")
distinct=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(DISTINCT user_id) FROM account").fetchone()[0])' "$state")
relisted=$(( gets_killed + gets_resumed - pages ))
echo "resumed (import --index auto):"
echo "  exit code:         $code"
echo "  requests:          $gets_resumed GET /customers, $others others"
echo "  wall:              ${secs}s, peak RSS ${mib} MiB"
echo "  state holds:       $final contacts, $distinct distinct userIds ($(state_meta "$state"))"
echo "  pages re-listed:   $relisted (requested by both runs: $(( gets_killed + gets_resumed )), the account's: $pages)"
if [ "$code" != 0 ] || [ "$final" != "$contacts" ] || [ "$distinct" != "$contacts" ] \
    || [ "$others" != 0 ]; then
    echo "  FAILED: the resumed listing did not end with exactly $contacts contacts" >&2
    ok=0
else
    echo "  exact:             yes"
fi
echo
echo "sandbox: peak RSS $(sandbox_mib VmHWM) MiB (the emulator, not the importer)"
[ "$ok" = 1 ]
