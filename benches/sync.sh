#!/bin/sh
# Requests per row of a nightly sync (--mode upsert) against the built-in sandbox, at a
# scale the end-to-end tests do not reach: a first import of ROWS contacts, the same file
# again, then a file with 5 % of the rows changed and 5 % new ones.
#
#   cargo build && benches/sync.sh [ROWS]      # dev build; ROWS defaults to 20000
#
# Prints each run's summary line, its time and peak memory, and the sandbox's request count.
set -eu
rows=${1:-20000}
bin=${BIN:-$(dirname "$0")/../target/debug/helpcrunch-import}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
port=${PORT:-18431}
work=$(mktemp -d)
cd "$work"
"$bin" sandbox --port "$port" >sandbox.log 2>&1 &
sandbox=$!
trap 'kill $sandbox; rm -rf "$work"' EXIT
sleep 1
export HELPCRUNCH_API_KEY=bench
csv() { # csv ROWS CHANGED_EVERY: rows u1..uROWS, every CHANGED_EVERYth of the first $rows renamed
    awk -v n="$1" -v every="$2" -v old="$rows" 'BEGIN {
        print "userId,email,name"
        for (i = 1; i <= n; i++) {
            name = (every > 0 && i % every == 0 && i <= old) ? "Renamed " i : "User " i
            print "u" i ",user" i "@example.com," name
        }
    }'
}
stats() { curl -s "http://127.0.0.1:$port/sandbox/stats"; echo; }
run() { # run FILE OUT
    /usr/bin/time -f "  %e s, peak %M KB" "$bin" import "$1" --base-url "http://127.0.0.1:$port/v1" \
        --mode upsert --state state.db --out "$2" --rate 5000/s 2>&1 | grep -E "rows read|requests,| s, peak"
    stats
}
csv "$rows" 0 >day1.csv
csv $((rows + rows / 20)) 20 >day2.csv
echo "first import of $rows rows:"; run day1.csv first
echo "the same file again:"; run day1.csv second
echo "5 % changed, $((rows / 20)) new:"; run day2.csv third
