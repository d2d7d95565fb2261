#!/usr/bin/env bash
# A client's tour of a running Confab server: register, log in, look people up, upload a
# file and fetch it back, rotate tokens, and delete an account. Each step prints what it
# sent and what came back, and the script stops at the first answer it did not expect.
#
#   cargo run --release -p confab        # in one terminal
#   examples/tour.sh                     # in another; BASE=http://host:port to point elsewhere
#
# Needs curl and python3 (for reading JSON). The server must allow open registration.
set -euo pipefail

BASE="${BASE:-http://127.0.0.1:8080}"
BASE="${BASE%/}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

# Prints a value from the JSON document on stdin, by a dotted path such as data.aToken.
json() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    value = value[int(part)] if isinstance(value, list) else value[part]
print(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
' "$1"
}

# call METHOD PATH [curl arguments...]: sends a request, prints the HTTP status and the
# envelope, and leaves them in $HTTP and $BODY.
call() {
    local method="$1" path="$2"
    shift 2
    printf '%s %s\n' "$method" "$path"
    HTTP="$(curl -sS -X "$method" -o "$work/body" -w '%{http_code}' "$@" "$BASE$path")"
    BODY="$(cat "$work/body")"
    printf '  -> HTTP %s %s\n' "$HTTP" "$BODY"
}

# expect HTTP STATUS: stops the tour unless the last answer had this HTTP status and code.
expect() {
    local code
    code="$(printf '%s' "$BODY" | json status 2>/dev/null || echo '?')"
    if [ "$HTTP" != "$1" ] || [ "$code" != "$2" ]; then
        printf 'expected HTTP %s with status %s, got HTTP %s with status %s\n' \
            "$1" "$2" "$HTTP" "$code" >&2
        exit 1
    fi
}

suffix="$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
alice="tour_a_$suffix"
bob="tour_b_$suffix"
password="tour-pass-$suffix"

step "Is the server up?"
call GET /user/ping
expect 200 200

step "Register two users: $alice and $bob"
call POST /user/register --data-urlencode "username=$alice" --data-urlencode "password=$password"
expect 200 200
# The seed's spelling of the name parameter works too, and JSON bodies as well as forms.
call POST /user/register -H 'Content-Type: application/json' \
    -d "{\"user_name\": \"$bob\", \"password\": \"$password\"}"
expect 200 200

step "Log in as $alice"
call POST /user/login --data-urlencode "username=$alice" --data-urlencode "password=$password"
expect 200 200
access="$(printf '%s' "$BODY" | json data.aToken)"
refresh="$(printf '%s' "$BODY" | json data.rToken)"

step "Who am I?"
call GET /user/me -H "Authorization: Bearer $access"
expect 200 200
alice_id="$(printf '%s' "$BODY" | json data.ID)"
echo "  $alice has id $alice_id"

step "Find $bob by name, then by id (his email and phone are not shown to others)"
call GET "/user/find?info=$bob" -H "Authorization: $access"
expect 200 200
bob_id="$(printf '%s' "$BODY" | json data.ID)"
call GET "/user/find?info=$bob_id" -H "Authorization: $access"
expect 200 200

step "A name nobody has is a clean 'user not found'"
call GET "/user/find?info=nobody_$suffix" -H "Authorization: $access"
expect 200 30011

step "Upload a small file and fetch it back"
printf 'Hello from the Confab tour (%s).\n' "$suffix" >"$work/hello.txt"
call POST /user/upload -H "Authorization: $access" -F "file=@$work/hello.txt"
expect 200 200
url="$(printf '%s' "$BODY" | json data.url)"
echo "GET $url"
curl -sS -D "$work/headers" -o "$work/fetched.txt" "$BASE$url"
grep -i -E '^(HTTP|content-type|x-content-type-options|content-disposition)' "$work/headers" \
    | sed 's/^/  /'
if cmp -s "$work/hello.txt" "$work/fetched.txt"; then
    echo "  the served file is the uploaded file"
else
    echo "the served file differs from the uploaded one" >&2
    exit 1
fi

step "Trade the rToken for a new pair"
call POST /user/refresh --data-urlencode "rToken=$refresh"
expect 200 200
access="$(printf '%s' "$BODY" | json data.aToken)"

step "The old rToken works only once"
call POST /user/refresh --data-urlencode "rToken=$refresh"
expect 401 30002

step "An rToken is never accepted as an access token"
call GET /user/me -H "Authorization: $refresh"
expect 401 30002

step "Delete $alice (her own name and password again)"
call DELETE /user/delete -H "Authorization: $access" \
    --data-urlencode "username=$alice" --data-urlencode "password=$password"
expect 200 200

step "A deleted user's token stops working"
call GET /user/me -H "Authorization: $access"
expect 401 30002

printf '\nTour complete. %s (id %s) is still registered.\n' "$bob" "$bob_id"
