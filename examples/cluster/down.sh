#!/usr/bin/env bash
# Stops the cluster examples/cluster/up.sh started in FOLDER: nginx, both nodes (SIGTERM,
# so they close their sockets with 1001 and leave the online list), SecantusDB and Redis if
# it started them, each by the pid it recorded; then drops its MariaDB database and removes
# the folder. KEEP=1 keeps the folder (logs, data folders) and the database; KEEP_FOLDER=1
# keeps only the folder.
#
#   examples/cluster/down.sh FOLDER
set -uo pipefail

dir=${1:-${CLUSTER_DIR:-}}
[ -n "$dir" ] || { echo "usage: $0 FOLDER (the folder up.sh printed)" >&2; exit 2; }
[ -f "$dir/cluster.env" ] || { echo "down.sh: $dir holds no cluster.env: not a cluster folder" >&2; exit 2; }
# shellcheck disable=SC1091
. "$dir/cluster.env"

# Sends SIGTERM to the process whose pid is in $1, waits up to $2 seconds, then SIGKILL.
stop_pid_file() {
    local file=$1 grace=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 $((grace * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "down.sh: $(basename "$file" .pid) did not stop within ${grace}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$file"
}

prefix="$dir/nginx"
if [ -f "$prefix/logs/nginx.pid" ]; then
    "$NGINX" -p "$prefix/" -c nginx.conf -e logs/error.log -s quit 2>/dev/null || true
    for _ in $(seq 1 50); do
        [ -f "$prefix/logs/nginx.pid" ] || break
        sleep 0.1
    done
    stop_pid_file "$prefix/logs/nginx.pid" 5
fi
# The nodes' shutdown grace period is 10 s.
stop_pid_file "$dir/node1.pid" 15 &
stop_pid_file "$dir/node2.pid" 15 &
wait
stop_pid_file "$dir/secantusd.pid" 10
stop_pid_file "$dir/redis.pid" 10

if [ "${KEEP:-0}" = 1 ]; then
    echo "kept $dir and the database $DB_NAME"
    exit 0
fi
if [ "${DB_CREATED:-0}" = 1 ]; then
    MYSQL_PWD="$DB_PASSWORD" "$DB_CLIENT" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" \
        -e "DROP DATABASE IF EXISTS $DB_NAME" \
        || echo "down.sh: could not drop the database $DB_NAME" >&2
fi
if [ "${KEEP_FOLDER:-0}" = 1 ]; then
    echo "cluster stopped; its logs are in $dir"
    exit 0
fi
rm -rf "$dir"
echo "cluster stopped; $dir removed"
