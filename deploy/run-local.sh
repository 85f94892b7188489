#!/usr/bin/env bash
# Try the many-viewers layout on one machine: one publisher (the only process that fetches
# and writes), N read-only replicas of the app on 127.0.0.1, and nginx in front of them,
# run as the current user from a temporary folder (not the system's nginx service).
#
#   deploy/run-local.sh N                      publisher: python -m race monitor --publish
#   deploy/run-local.sh N --replay RACE|PATH   publisher: a replay at $SPEED× (default 10)
#
# Prints the address to open; Ctrl-C stops everything. Environment (all optional):
#   PORT (8080) nginx's port · FIRST_REPLICA_PORT (8601) replicas on it and the next ports
#   RACE_DB the publisher's database · PITWALL_RUN the folder for snapshots, logs, pids and
#   nginx's files (default: a new temporary folder) · PYTHON (.venv/bin/python) · NGINX
#   (/usr/sbin/nginx) · SPEED · PUBLISH_EVERY (1 s between snapshots at most)
set -euo pipefail

N="${1:-}"
if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: deploy/run-local.sh N [--replay RACE_ID|PATH]  (N replicas, 1 or more)" >&2
  exit 2
fi
shift
REPLAY=""
if [ "${1:-}" = "--replay" ]; then
  REPLAY="${2:?--replay needs a race id or a lap file}"
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
NGINX="${NGINX:-/usr/sbin/nginx}"
PORT="${PORT:-8080}"
FIRST_REPLICA_PORT="${FIRST_REPLICA_PORT:-8601}"
RUN="${PITWALL_RUN:-$(mktemp -d "${TMPDIR:-/tmp}/pitwall-local.XXXXXX")}"
SNAPSHOTS="$RUN/snapshots"
mkdir -p "$RUN" "$SNAPSHOTS" "$RUN/nginx"
if [ ! -x "$NGINX" ]; then
  echo "error: nginx is not installed at $NGINX (apt-get install -y nginx, or set NGINX)" >&2
  exit 2
fi

PIDS=()
stop_all() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped (logs in $RUN)" >&2
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for WHAT SECONDS COMMAND…: until COMMAND succeeds
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "error: $what did not start in ${seconds} s (logs in $RUN)" >&2
      exit 1
    fi
    sleep 0.3
  done
}
healthy() { "$PYTHON" -c "import sys, urllib.request as u; sys.exit(u.urlopen(sys.argv[1], timeout=2).read().strip() != b'ok')" "$1"; }

# 1. The publisher: the only writer; a snapshot now and after every stored poll.
cd "$ROOT"
if [ -n "$REPLAY" ]; then
  "$PYTHON" -m race replay "$REPLAY" --speed "${SPEED:-10}" --publish "$SNAPSHOTS" \
    --publish-every "${PUBLISH_EVERY:-1}" >"$RUN/publisher.log" 2>&1 &
else
  "$PYTHON" -m race monitor --publish "$SNAPSHOTS" \
    --publish-every "${PUBLISH_EVERY:-1}" >"$RUN/publisher.log" 2>&1 &
fi
PIDS+=($!)
echo "$!" >"$RUN/publisher.pid"
wait_for "the publisher's first snapshot" 60 test -f "$SNAPSHOTS/CURRENT"

# 2. N replicas: read the newest snapshot, never write. One cookie secret for all, so a
#    browser moved to another replica (its own died) keeps a valid XSRF cookie.
SECRET="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
REPLICAS=()
for ((i = 0; i < N; i++)); do
  port=$((FIRST_REPLICA_PORT + i))
  RACE_READ_FROM="$SNAPSHOTS" STREAMLIT_SERVER_COOKIE_SECRET="$SECRET" \
    "$PYTHON" -m streamlit run app.py \
    --server.port "$port" --server.address 127.0.0.1 --server.headless true \
    --server.fileWatcherType none \
    --browser.gatherUsageStats false >"$RUN/replica-$port.log" 2>&1 &
  PIDS+=($!)
  echo "$!" >"$RUN/replica-$port.pid"
  REPLICAS+=(--replica "127.0.0.1:$port")
done
for ((i = 0; i < N; i++)); do
  port=$((FIRST_REPLICA_PORT + i))
  wait_for "replica on port $port" 90 healthy "http://127.0.0.1:$port/_stcore/health"
done

# 3. nginx in front, as this user, everything under $RUN/nginx.
"$PYTHON" deploy/render_nginx.py --prefix "$RUN/nginx" --listen "127.0.0.1:$PORT" \
  "${REPLICAS[@]}" --out "$RUN/nginx/nginx.conf"
"$NGINX" -t -q -p "$RUN/nginx" -e "$RUN/nginx/error.log" -c "$RUN/nginx/nginx.conf"
"$NGINX" -p "$RUN/nginx" -e "$RUN/nginx/error.log" -c "$RUN/nginx/nginx.conf" \
  -g "daemon off;" &
PIDS+=($!)
echo "$!" >"$RUN/nginx.pid"
wait_for "nginx" 30 healthy "http://127.0.0.1:$PORT/_stcore/health"

echo "Pit Wall: http://127.0.0.1:$PORT/ ($N read-only replicas on ports $FIRST_REPLICA_PORT–$((FIRST_REPLICA_PORT + N - 1)), snapshots in $SNAPSHOTS, logs in $RUN). Ctrl-C stops everything."
wait "${PIDS[@]:1}"  # until Ctrl-C (the replicas and nginx run until stopped)
