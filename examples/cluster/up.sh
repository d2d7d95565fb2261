#!/usr/bin/env bash
# Starts a two-node Confab service on this machine, as the current user, in one folder:
#
#   nginx  127.0.0.1:$NGINX_PORT   round-robin over the two nodes, WebSocket upgrades
#     |                            passed through, X-Forwarded-For set
#   node1  127.0.0.1:$NODE1_PORT   confab serve, data folder $CLUSTER_DIR/node1
#   node2  127.0.0.1:$NODE2_PORT   confab serve, data folder $CLUSTER_DIR/node2
#     |
#   MariaDB  a fresh database confab_cluster_<random> on $MYSQL_URL (accounts, groups,
#            plugins; history too unless MongoDB is there)
#   Redis    a redis-server of its own on 127.0.0.1:$REDIS_PORT (bus and online list)
#   MongoDB  optional: $MONGO_URL (a fresh database on it), or a SecantusDB server of its own
#            on 127.0.0.1:$MONGO_PORT when `secantusd-py` is found; otherwise history stays
#            in MariaDB
#
# Everything it starts writes its pid, logs and configuration under $CLUSTER_DIR (a new
# temporary folder unless given). nginx runs with its own configuration and prefix there,
# on unprivileged ports, so no root is needed. Stop it all, drop the database and remove
# the folder with:
#
#   examples/cluster/down.sh "$CLUSTER_DIR"
#
# Settings (environment):
#   CONFAB       the confab binary (default: target/release/confab, built if missing)
#   NGINX        the nginx binary (default: nginx on PATH, or /usr/sbin/nginx)
#   MYSQL_URL    the MariaDB or MySQL server, without a database (mysql://root@127.0.0.1:3306)
#   MONGO_URL    a MongoDB server to keep history in, instead of starting SecantusDB
#   SECANTUSD    the secantusd-py launcher (default: on PATH, or .venv-mongo/bin/secantusd-py,
#                which .ci/run installs)
#   BASE_PORT    18480: nginx on it, the nodes on +1 and +2, Redis on +3, SecantusDB on +4;
#                NGINX_PORT, NODE1_PORT, NODE2_PORT, REDIS_PORT and MONGO_PORT set each one
#   CLUSTER_DIR  the folder to use (created; must be empty or missing)
# Any CONFAB_* variable reaches both nodes and wins over the configuration files written here.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/examples/cluster"

BASE_PORT=${BASE_PORT:-18480}
NGINX_PORT=${NGINX_PORT:-$BASE_PORT}
NODE1_PORT=${NODE1_PORT:-$((BASE_PORT + 1))}
NODE2_PORT=${NODE2_PORT:-$((BASE_PORT + 2))}
REDIS_PORT=${REDIS_PORT:-$((BASE_PORT + 3))}
MONGO_PORT=${MONGO_PORT:-$((BASE_PORT + 4))}
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306}
MONGO_URL=${MONGO_URL:-}

say() { printf '%s\n' "$*"; }
fail() { printf 'up.sh: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits up to $2 seconds for command $1 to succeed.
wait_for() {
    local tries=$(($2 * 10))
    for _ in $(seq 1 "$tries"); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    return 1
}

[ "$REDIS_PORT" != 6379 ] || fail "REDIS_PORT must not be 6379: this script starts a Redis of its own"
for port in "$NGINX_PORT" "$NODE1_PORT" "$NODE2_PORT" "$REDIS_PORT"; do
    ! port_open "$port" || fail "port $port is in use (set BASE_PORT or the *_PORT variables)"
done

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || fail "nginx is missing: apt-get install nginx (or set NGINX)"
command -v redis-server >/dev/null || fail "redis-server is missing: apt-get install redis-server"
db_client=$(command -v mariadb || command -v mysql || true)
[ -n "$db_client" ] || fail "the mariadb (or mysql) client is missing: apt-get install mariadb-client"

if [ -z "${CONFAB:-}" ]; then
    CONFAB="$repo/target/release/confab"
    if [ ! -x "$CONFAB" ]; then
        say "building confab (cargo build --release -p confab)"
        (cd "$repo" && cargo build --release -p confab)
    fi
fi
[ -x "$CONFAB" ] || fail "no confab binary at $CONFAB"

CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/confab-cluster.XXXXXX")}
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
[ -z "$(ls -A "$CLUSTER_DIR")" ] || fail "$CLUSTER_DIR is not empty"
chmod 700 "$CLUSTER_DIR"

# From here on, whatever fails stops what was started.
# The folder stays, for its logs.
trap 'status=$?; if [ $status -ne 0 ]; then say "up.sh failed; stopping what it started" >&2; KEEP_FOLDER=1 "$here/down.sh" "$CLUSTER_DIR" >&2 || true; fi' EXIT

suffix=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
DB_NAME="confab_cluster_$suffix"
secret() { head -c 32 /dev/urandom | base64; }
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')

url_re='^[a-z]+://([^:@/]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?/?$'
[[ $MYSQL_URL =~ $url_re ]] || fail "MYSQL_URL must look like mysql://user[:password]@host[:port]"
DB_USER=${BASH_REMATCH[1]}
DB_PASSWORD=${BASH_REMATCH[3]}
DB_HOST=${BASH_REMATCH[4]}
DB_PORT=${BASH_REMATCH[6]:-3306}

# What down.sh needs; written first, so a failed start is cleaned up too.
cat >"$CLUSTER_DIR/cluster.env" <<EOF
CLUSTER_DIR='$CLUSTER_DIR'
NGINX='$NGINX'
NGINX_PORT=$NGINX_PORT
NODE1_PORT=$NODE1_PORT
NODE2_PORT=$NODE2_PORT
REDIS_PORT=$REDIS_PORT
DB_CLIENT='$db_client'
DB_HOST='$DB_HOST'
DB_PORT=$DB_PORT
DB_USER='$DB_USER'
DB_PASSWORD='$DB_PASSWORD'
DB_NAME=$DB_NAME
ADMIN_TOKEN='$ADMIN_TOKEN'
BASE_URL=http://127.0.0.1:$NGINX_PORT
EOF
chmod 600 "$CLUSTER_DIR/cluster.env"

sql() { MYSQL_PWD="$DB_PASSWORD" "$db_client" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -e "$1"; }

say "MariaDB: creating the database $DB_NAME"
sql "CREATE DATABASE $DB_NAME" || fail "cannot create a database on $MYSQL_URL"
echo "DB_CREATED=1" >>"$CLUSTER_DIR/cluster.env"
database_url="mysql://$DB_USER${DB_PASSWORD:+:$DB_PASSWORD}@$DB_HOST:$DB_PORT/$DB_NAME"

say "Redis: starting redis-server on 127.0.0.1:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --dir "$CLUSTER_DIR" --pidfile "$CLUSTER_DIR/redis.pid" \
    --logfile "$CLUSTER_DIR/redis.log"
wait_for "port_open $REDIS_PORT" 10 || fail "redis-server did not start; see $CLUSTER_DIR/redis.log"

history_url=""
if [ -n "$MONGO_URL" ]; then
    history_url=$MONGO_URL
    say "MongoDB: history in the database $DB_NAME on $MONGO_URL"
else
    SECANTUSD=${SECANTUSD:-$(command -v secantusd-py || true)}
    if [ -z "$SECANTUSD" ] && [ -x "$repo/.venv-mongo/bin/secantusd-py" ]; then
        SECANTUSD="$repo/.venv-mongo/bin/secantusd-py"
    fi
    if [ -n "$SECANTUSD" ]; then
        ! port_open "$MONGO_PORT" || fail "port $MONGO_PORT is in use (set MONGO_PORT)"
        say "MongoDB: starting SecantusDB on 127.0.0.1:$MONGO_PORT"
        "$SECANTUSD" --host 127.0.0.1 --port "$MONGO_PORT" --storage-path :memory: \
            >"$CLUSTER_DIR/secantusd.log" 2>&1 &
        echo $! >"$CLUSTER_DIR/secantusd.pid"
        wait_for "grep -q listening '$CLUSTER_DIR/secantusd.log'" 60 \
            || fail "SecantusDB did not start; see $CLUSTER_DIR/secantusd.log"
        history_url="mongodb://127.0.0.1:$MONGO_PORT"
    else
        say "MongoDB: none (no MONGO_URL, no secantusd-py): history stays in MariaDB"
    fi
fi

jwt_secret=$(secret)
data_key=$(secret)
index_key=$(secret)
for n in 1 2; do
    port_var="NODE${n}_PORT"
    mkdir -p "$CLUSTER_DIR/node$n"
    cat >"$CLUSTER_DIR/node$n.toml" <<EOF
# Node $n of the example cluster (examples/cluster/up.sh).
[server]
listen = "127.0.0.1:${!port_var}"
data_dir = "$CLUSTER_DIR/node$n"
# nginx on this machine: the client address is the one it puts into X-Forwarded-For.
trusted_proxies = ["127.0.0.1/32", "::1/128"]
# Longer than nginx's keepalive_timeout for its upstream connections (60 s), so nginx closes
# an idle one first and never sends a request on a connection Confab is closing.
keepalive_idle_secs = 75

[database]
url = "$database_url"

[history]
url = "$history_url"
database = "$DB_NAME"

[cluster]
redis_url = "redis://127.0.0.1:$REDIS_PORT"
namespace = "$DB_NAME"
node_name = "node$n"

# Nodes of one service share these three; secrets generated into each data folder would differ.
[auth]
jwt_secret = "$jwt_secret"

[security]
data_key = "$data_key"
index_key = "$index_key"

[admin]
token = "$ADMIN_TOKEN"
EOF
    chmod 600 "$CLUSTER_DIR/node$n.toml"
    # One after the other: the first node seeds the bundled plugins into the database.
    say "node$n: starting confab on 127.0.0.1:${!port_var}"
    "$CONFAB" --config "$CLUSTER_DIR/node$n.toml" serve >"$CLUSTER_DIR/node$n.log" 2>&1 &
    echo $! >"$CLUSTER_DIR/node$n.pid"
    wait_for "grep -q 'is listening on' '$CLUSTER_DIR/node$n.log'" 120 \
        || fail "node$n did not start; see $CLUSTER_DIR/node$n.log"
done

say "nginx: starting on 127.0.0.1:$NGINX_PORT"
prefix="$CLUSTER_DIR/nginx"
mkdir -p "$prefix/logs" "$prefix/temp"
user_line=""
# Started by root, nginx would run its workers as "nobody", who cannot enter this folder.
if [ "$(id -u)" = 0 ]; then user_line="user $(id -un) $(id -gn);"; fi
sed -e "s|@USER@|$user_line|" -e "s|@NGINX_PORT@|$NGINX_PORT|g" \
    -e "s|@NODE1_PORT@|$NODE1_PORT|g" -e "s|@NODE2_PORT@|$NODE2_PORT|g" \
    "$here/nginx.conf.in" >"$prefix/nginx.conf"
"$NGINX" -p "$prefix/" -c nginx.conf -e logs/error.log -t -q \
    || fail "nginx refused its configuration; see $prefix/logs/error.log"
"$NGINX" -p "$prefix/" -c nginx.conf -e logs/error.log
wait_for "curl -fsS -o /dev/null http://127.0.0.1:$NGINX_PORT/user/ping" 10 \
    || fail "nginx does not answer; see $prefix/logs/error.log"

trap - EXIT
say ""
say "Confab cluster up: http://127.0.0.1:$NGINX_PORT/ (nginx over node1 and node2)"
say "  folder:      $CLUSTER_DIR (logs: node1.log, node2.log, nginx/logs/, redis.log)"
say "  admin token: in $CLUSTER_DIR/cluster.env (ADMIN_TOKEN)"
say "  stop it:     $here/down.sh $CLUSTER_DIR"
