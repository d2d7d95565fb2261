#!/usr/bin/env bash
# Builds Confab and the load generator, starts a Confab server on 127.0.0.1:18080 with a
# temporary data folder and the bundled plugins, and measures it next to a bare WebSocket
# echo on the same machine at the same time:
#
#   1. `confab-loadgen compare`: RUNS rounds of, in turn, the echo with the shape of the
#      private pairs, Confab's private pairs, the pairs again paced at half the rate they
#      reached (the p99 there is the figure to watch), the fan-out echo with the shape of
#      the group, and Confab's group; then the median and range over the rounds of each
#      figure and of each ratio Confab/echo;
#   2. `confab-loadgen idle` with IDLE sockets held at once, for the memory per socket,
#      and the same against a bare echo server with Confab's socket settings.
#
# The server (and the echo server of the memory baseline) is stopped however the script
# ends. Every scenario sends a fixed number of messages and is cut off after LIMIT seconds.
#
#   examples/loadgen/run.sh
#   RUNS=1 PAIRS=10 PAIR_MESSAGES=500 GROUP_MESSAGES=500 IDLE=1000 examples/loadgen/run.sh
#   CONFAB_DATABASE__URL=mysql://root@127.0.0.1:3306/loadgen_N examples/loadgen/run.sh
#
# Any CONFAB_* variable in the environment reaches the server, so the last line runs the
# same scenarios on MariaDB. Give it a fresh, empty database each run (a new N): when the
# `mariadb` or `mysql` client is installed, the script creates the database if it is
# missing and stops if it already holds tables; without a client, create it first.
#
# PROFILE=debug builds and runs debug binaries instead, to check the script itself
# quickly; its figures mean nothing.
set -euo pipefail

cd "$(dirname "$0")/../.."

PORT=${PORT:-18080}
ECHO_PORT=${ECHO_PORT:-18090}
RUNS=${RUNS:-3}
WINDOW=${WINDOW:-8}
BYTES=${BYTES:-100}
PAIRS=${PAIRS:-50}
PAIR_MESSAGES=${PAIR_MESSAGES:-${MESSAGES:-4000}}
MEMBERS=${MEMBERS:-100}
GROUP_SENDERS=${GROUP_SENDERS:-${SENDERS:-1}}
GROUP_MESSAGES=${GROUP_MESSAGES:-2000}
HALF_RATE=${HALF_RATE:-true}
TARGET_P99_MS=${TARGET_P99_MS:-10}
IDLE=${IDLE:-10000}
IDLE_USERS=${IDLE_USERS:-100}
# Seconds each scenario of each round may take, set-up included.
LIMIT=${LIMIT:-300}
# High enough that the stranger-limit plugin never refuses, while it still runs on every
# private message: its cost is part of what is measured.
STRANGER_LIMIT=${STRANGER_LIMIT:-1000000000}
PROFILE=${PROFILE:-release}

command -v curl >/dev/null || { echo "run.sh needs curl" >&2; exit 1; }

# Every idle socket is an open file in the server and another in the load generator.
nofile=65536
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ]; then
    nofile=$hard
fi
ulimit -n "$nofile"
if [ "$nofile" -lt $((IDLE + 1000)) ]; then
    echo "the open-file limit is $nofile (hard limit $hard): too low for IDLE=$IDLE sockets" >&2
    exit 1
fi

# A MariaDB run needs an empty database of its own.
db_url=${CONFAB_DATABASE__URL:-}
if [[ $db_url == mysql://* || $db_url == mariadb://* ]]; then
    client=$(command -v mariadb || command -v mysql || true)
    url_re='^[a-z]+://([^:@/]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?/([A-Za-z0-9_]+)$'
    if [ -z "$client" ]; then
        echo "no mariadb/mysql client: the database in CONFAB_DATABASE__URL must exist and be empty"
    elif [[ $db_url =~ $url_re ]]; then
        db_user=${BASH_REMATCH[1]}
        db_password=${BASH_REMATCH[3]}
        db_host=${BASH_REMATCH[4]}
        db_port=${BASH_REMATCH[6]:-3306}
        db_name=${BASH_REMATCH[7]}
        sql() {
            MYSQL_PWD="$db_password" "$client" --protocol=TCP -h "$db_host" -P "$db_port" \
                -u "$db_user" -N -B -e "$1"
        }
        sql "CREATE DATABASE IF NOT EXISTS \`$db_name\`"
        tables=$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$db_name'")
        if [ "$tables" != 0 ]; then
            echo "the database $db_name already holds $tables tables: use a fresh one" >&2
            exit 1
        fi
        echo "database: $db_name on $db_host:$db_port, empty"
    else
        echo "could not read CONFAB_DATABASE__URL; the database must exist and be empty"
    fi
fi

if [ "$PROFILE" = debug ]; then
    cargo build -p confab -p confab-loadgen
    bin=target/debug
else
    cargo build --profile "$PROFILE" -p confab -p confab-loadgen
    bin=target/$PROFILE
fi
loadgen=$bin/confab-loadgen

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

# The bundled plugins are installed and on, the word filter with its default list. bcrypt
# cost 4 makes registering hundreds of users quick, and the registration and login
# throttles of this one address are raised to let them through; the send limits (per
# socket and per user) are raised far above what the scenarios send, so no send is refused
# for its rate, and the socket caps (per user, per address) and the connection cap (10,000 by
# default, which the idle sockets alone would fill) let one machine open 10,000 and more.
CONFAB_SERVER__LISTEN="127.0.0.1:$PORT" \
CONFAB_SERVER__DATA_DIR="$data/server" \
CONFAB_AUTH__BCRYPT_COST=4 \
CONFAB_THROTTLE__REGISTER__ADDRESS__PER_MINUTE=1000000 \
CONFAB_THROTTLE__REGISTER__ADDRESS__BURST=1000000 \
CONFAB_THROTTLE__LOGIN__ADDRESS__PER_MINUTE=1000000 \
CONFAB_THROTTLE__LOGIN__ADDRESS__BURST=1000000 \
CONFAB_CHAT__MESSAGES_PER_SECOND=1000000 \
CONFAB_CHAT__MESSAGE_BURST=1000000 \
CONFAB_CHAT__USER_MESSAGES_PER_SECOND=1000000 \
CONFAB_CHAT__USER_MESSAGE_BURST=1000000 \
CONFAB_CHAT__MAX_SOCKETS_PER_USER=100000 \
CONFAB_CHAT__MAX_SOCKETS_PER_ADDRESS=100000 \
CONFAB_SERVER__MAX_CONNECTIONS=$((IDLE + 1000)) \
CONFAB_LOG__FILTER=warn \
    "$bin/confab" serve >"$data/server.log" 2>&1 &
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

# The pairs' receivers never answer, and the stranger-limit plugin refuses a sender's 4th
# message to someone who has not replied: raise its limit so that it never triggers.
token_file="$data/server/secrets/admin.token"
answer=$(curl -sS -X PUT -H "Authorization: Bearer $(cat "$token_file")" \
    -H 'Content-Type: application/json' -d "{\"limit\": $STRANGER_LIMIT}" \
    "$base/admin/plugins/stranger-limit/config")
if ! grep -q '"status":200' <<<"$answer" || ! grep -q '"state":"running"' <<<"$answer"; then
    echo "raising the stranger limit failed: $answer" >&2
    exit 1
fi
for plugin in word-filter stranger-limit; do
    answer=$(curl -sS -H "Authorization: Bearer $(cat "$token_file")" "$base/admin/plugins/$plugin")
    if ! grep -q '"state":"running"' <<<"$answer"; then
        echo "the plugin $plugin is not running: $answer" >&2
        exit 1
    fi
done

echo "machine: $(nproc) cores, $(free -h | awk '/^Mem:/ {print $2}') memory; server and load generator share them"
echo "server: $bin/confab, ${CONFAB_DATABASE__URL:+database $CONFAB_DATABASE__URL, }bundled plugins on, stranger limit $STRANGER_LIMIT"
echo

# A scenario that fails is reported and the others still run.
run() {
    if ! "$loadgen" "$@" | tee -a "$results"; then
        echo "FAILED: confab-loadgen $*"
    fi
    echo
}

run compare --base "$base" --pid "$server" --admin-token-file "$token_file" \
    --window "$WINDOW" --bytes "$BYTES" --pairs "$PAIRS" --pair-messages "$PAIR_MESSAGES" \
    --members "$MEMBERS" --group-senders "$GROUP_SENDERS" --group-messages "$GROUP_MESSAGES" \
    --runs "$RUNS" --half-rate="$HALF_RATE" --target-p99-ms "$TARGET_P99_MS" --seconds "$LIMIT"
run idle --base "$base" --pid "$server" --admin-token-file "$token_file" \
    --connections "$IDLE" --users "$IDLE_USERS" --seconds "$LIMIT"

# The memory baseline: a bare echo with Confab's socket settings (TCP_NODELAY, a 4 KiB
# read buffer), in a process of its own as the server is.
"$loadgen" echo-server --port "$ECHO_PORT" --nodelay --read-buffer 4096 --seconds "$LIMIT" \
    >"$data/echo.log" 2>&1 &
echo_server=$!
for _ in $(seq 1 50); do
    if grep -q listening "$data/echo.log"; then break; fi
    sleep 0.1
done
run idle --echo --base "http://127.0.0.1:$ECHO_PORT" --pid "$echo_server" \
    --connections "$IDLE" --seconds "$LIMIT"

# What the server logged besides its start-up lines (warnings and errors only).
logged=$(grep -v -e '^Confab is listening' -e '^  chat client:' -e '^  operator console:' \
    "$data/server.log" || true)
if [ -n "$logged" ]; then
    echo "server log:"
    sort <<<"$logged" | uniq -c | sort -rn | head -n 10
    echo
fi

# The summary, from the RESULT lines: medians over the rounds, each Confab figure with its
# ratio to the echo's (taken within each round).
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
function row(name, s, unit) {
    if (!(s in seen)) return
    printf "%-6s %-13s %9.0f %9.0f %7.3g   %8.2f %8.2f %7.3g   %8.2f %8.2f %7.3g   %s of %s\n", name,
        unit, v[s, "confab_rate"], v[s, "echo_rate"], v[s, "rate_ratio"],
        v[s, "confab_p50_ms"], v[s, "echo_p50_ms"], v[s, "p50_ratio"],
        v[s, "confab_p99_ms"], v[s, "echo_p99_ms"], v[s, "p99_ratio"],
        v[s, "complete_runs"], v[s, "runs"]
}
END {
    if ("compare-pairs" in seen) {
        printf "summary: medians over %s rounds; each ratio Confab/echo is taken within a round\n",
            v["compare-pairs", "runs"]
        printf "%-6s %-13s %9s %9s %7s   %8s %8s %7s   %8s %8s %7s   %s\n", "", "", "Confab", "echo",
            "ratio", "p50 ms", "echo", "ratio", "p99 ms", "echo", "ratio", "complete"
        row("pairs", "compare-pairs", "messages/s")
        row("group", "compare-group", "deliveries/s")
    }
    if ("compare-half-rate" in seen) {
        s = "compare-half-rate"
        printf "half rate: p99 %s ms at %s messages/s (asked %s); target %s ms met in %s of %s rounds\n",
            v[s, "p99_ms"], v[s, "rate"], v[s, "target_rate"], v[s, "target_p99_ms"],
            v[s, "met_runs"], v[s, "runs"]
    }
    if ("compare-pairs" in seen) {
        printf "refused sends: pairs %s, half rate %s, group %s\n", v["compare-pairs", "refused"],
            ("compare-half-rate" in seen) ? v["compare-half-rate", "refused"] : "-",
            v["compare-group", "refused"]
    }
    if ("idle" in seen) {
        printf "idle sockets: %s KiB per socket, %s sockets held at once: %s",
            v["idle", "kib_per_connection"], v["idle", "connections"], v["idle", "held"]
        if ("idle-echo" in seen && v["idle-echo", "kib_per_connection"] > 0)
            printf "; bare echo %s KiB, ratio %.3g", v["idle-echo", "kib_per_connection"],
                v["idle", "kib_per_connection"] / v["idle-echo", "kib_per_connection"]
        printf "\n"
    }
}' "$results"
