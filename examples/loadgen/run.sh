#!/usr/bin/env bash
# Builds Confab and the load generator, starts a Confab server on 127.0.0.1:18080 with a
# temporary data folder, runs every scenario next to the bare WebSocket echo baseline, and
# prints a summary with Confab's figures as ratios to the echo's. The server (and the echo
# server of the memory baseline) is stopped however the script ends.
#
#   examples/loadgen/run.sh
#   PAIRS=20 MESSAGES=100 IDLE=500 examples/loadgen/run.sh      # a smaller run
#   CONFAB_DATABASE__URL=mysql://root@127.0.0.1:3306/loadgen examples/loadgen/run.sh
#
# Any CONFAB_* variable in the environment reaches the server, so the last line runs the
# same scenarios on MariaDB (the database must exist and be empty).
set -euo pipefail

cd "$(dirname "$0")/../.."

PORT=${PORT:-18080}
ECHO_PORT=${ECHO_PORT:-18090}
PAIRS=${PAIRS:-50}
MESSAGES=${MESSAGES:-200}
WINDOW=${WINDOW:-1}
BYTES=${BYTES:-200}
MEMBERS=${MEMBERS:-100}
SENDERS=${SENDERS:-5}
GROUP_MESSAGES=${GROUP_MESSAGES:-200}
IDLE=${IDLE:-2000}
IDLE_USERS=${IDLE_USERS:-20}
LIMIT=${LIMIT:-60}

command -v curl >/dev/null || { echo "run.sh needs curl" >&2; exit 1; }
cargo build --release -p confab -p confab-loadgen
loadgen=target/release/confab-loadgen

data=$(mktemp -d "${TMPDIR:-/tmp}/confab-loadgen.XXXXXX")
results="$data/results.txt"
server=""
echo_server=""
stop() {
    for pid in $server $echo_server; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$data"
}
trap stop EXIT
trap 'exit 130' INT TERM

# bcrypt cost 4 makes registering hundreds of users quick; the per-socket send limit is
# raised far above what the scenarios send, so no send is refused for its rate. The bundled
# plugins are left out: the stranger rule would refuse the scenarios' one-way streams (the
# cost of a hook is measured by `cargo bench -p confab --bench hooks`).
CONFAB_SERVER__LISTEN="127.0.0.1:$PORT" \
CONFAB_SERVER__DATA_DIR="$data/server" \
CONFAB_AUTH__BCRYPT_COST=4 \
CONFAB_CHAT__MESSAGES_PER_SECOND=1000000 \
CONFAB_CHAT__MESSAGE_BURST=1000000 \
CONFAB_PLUGINS__INSTALL_BUNDLED=false \
CONFAB_LOG__FILTER=warn \
    target/release/confab serve >"$data/server.log" 2>&1 &
server=$!

base="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    if curl -sf "$base/user/ping" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$data/server.log" >&2
        echo "the server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
curl -sf "$base/user/ping" >/dev/null || { echo "the server does not answer on $base" >&2; exit 1; }

echo "machine: $(nproc) cores, $(free -h | awk '/^Mem:/ {print $2}') memory; server and load generator share them"
echo

# A scenario that fails is reported and the others still run.
run() {
    if ! "$loadgen" "$@" | tee -a "$results"; then
        echo "FAILED: confab-loadgen $*"
    fi
    echo
}

# Unloaded: one conversation, one message at a time.
run echo --connections 1 --messages "$MESSAGES" --bytes "$BYTES" --seconds "$LIMIT" --label echo-single
run pairs --base "$base" --pid "$server" --pairs 1 --messages "$MESSAGES" --bytes "$BYTES" \
    --seconds "$LIMIT" --label pairs-single
# Loaded: many conversations, and a group.
run echo --connections "$PAIRS" --messages "$MESSAGES" --window "$WINDOW" --bytes "$BYTES" --seconds "$LIMIT"
run pairs --base "$base" --pid "$server" --pairs "$PAIRS" --messages "$MESSAGES" --window "$WINDOW" \
    --bytes "$BYTES" --seconds "$LIMIT"
run group --base "$base" --pid "$server" --members "$MEMBERS" --senders "$SENDERS" \
    --messages "$GROUP_MESSAGES" --window "$WINDOW" --bytes "$BYTES" --seconds "$LIMIT"
run idle --base "$base" --pid "$server" --connections "$IDLE" --users "$IDLE_USERS" --seconds "$LIMIT"

"$loadgen" echo-server --port "$ECHO_PORT" --seconds "$LIMIT" >"$data/echo.log" 2>&1 &
echo_server=$!
for _ in $(seq 1 50); do
    if grep -q listening "$data/echo.log"; then break; fi
    sleep 0.1
done
run idle --echo --base "http://127.0.0.1:$ECHO_PORT" --connections "$IDLE" --pid "$echo_server" --seconds "$LIMIT"

if [ -s "$data/server.log" ]; then
    echo "server log:"
    sort "$data/server.log" | uniq -c | sort -rn | head -n 10
    echo
fi

# The summary: each figure next to the echo's, as a ratio.
awk '
/^RESULT / {
    s = ""
    for (i = 2; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "scenario") s = kv[2]
        v[s, kv[1]] = kv[2]
    }
    seen[s] = 1
}
function ratio(a, b) { return b > 0 ? sprintf("%.3g", a / b) : "-" }
function row(name, s, base, unit,    cpu) {
    if (!(s in seen) || !(base in seen)) return
    cpu = v[s, "server_cpu_s"] == "-" || v[s, "seconds"] == 0 ? "-" : \
        sprintf("%.0f%%", 100 * v[s, "server_cpu_s"] / v[s, "seconds"])
    printf "%-16s %8.0f %-13s %7.2f %7.2f %7.2f %7.2f   %6s %7s %7s   %10s   %s\n", name, v[s, "rate"],
        unit, v[s, "mean_ms"], v[s, "p50_ms"], v[s, "p99_ms"], v[s, "ack_p50_ms"],
        ratio(v[s, "rate"], v[base, "rate"]),
        ratio(v[s, "p50_ms"], v[base, "p50_ms"]), ratio(v[s, "p99_ms"], v[base, "p99_ms"]), cpu,
        v[s, "complete"]
}
END {
    printf "%-16s %22s %7s %7s %7s %7s   %6s %7s %7s   %10s   %s\n", "scenario", "throughput", "mean ms",
        "p50 ms", "p99 ms", "ack p50", "rate x", "p50 x", "p99 x", "server CPU", "complete"
    row("echo, 1 socket", "echo-single", "echo-single", "msg/s")
    row("1 pair", "pairs-single", "echo-single", "msg/s")
    row("echo baseline", "echo", "echo", "msg/s")
    row("private pairs", "pairs", "echo", "msg/s")
    row("group fan-out", "group", "echo", "deliveries/s")
    print "(ratios: to the echo row above each; server CPU in percent of one core)"
    if ("idle" in seen) {
        printf "\nidle sockets: %s KiB per connection (%s connections)", v["idle", "kib_per_connection"],
            v["idle", "connections"]
        if ("idle-echo" in seen && v["idle-echo", "kib_per_connection"] > 0)
            printf "; bare echo %s KiB, ratio %s", v["idle-echo", "kib_per_connection"],
                ratio(v["idle", "kib_per_connection"], v["idle-echo", "kib_per_connection"])
        printf "\n"
    }
}' "$results"
