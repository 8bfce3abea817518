#!/usr/bin/env bash
# Quick wrk load test of the bundled example app, `beemo beemo.examples.hello:app`.
#
#   loadtests/wrk.sh                 # GET / then POST /echo (1 KiB), 5 s each, -t1 -c100
#   DURATION=10s CONNECTIONS=50 loadtests/wrk.sh
#
# The server runs on a free loopback port, pinned to CPU 0 (wrk to CPU 1) when taskset is
# there, and is stopped with SIGTERM at the end. Exits non-zero if wrk is missing, the server
# does not start or answer, or wrk saw non-2xx/3xx responses. For a comparison with other
# servers use ../shared/bench/run.py (see loadtests/README.md).
set -euo pipefail

if ! command -v wrk >/dev/null; then
  echo "wrk.sh: error: wrk is not installed. Install it from the beemo checkout with:" \
       "bash ../shared/bench/setup.sh" >&2
  exit 127
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
duration=${DURATION:-5s}
connections=${CONNECTIONS:-100}
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python=$root/.venv/bin/python; else python=python3; fi
fi

server_pin=()
client_pin=()
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
  server_pin=(taskset -c 0)
  if [ "$(nproc)" -gt 1 ]; then client_pin=(taskset -c 1); fi
fi

log=$(mktemp "${TMPDIR:-/tmp}/beemo-wrk.XXXXXX")
pid=
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap stop EXIT
trap 'exit 130' INT TERM

# --bind :0 picks a free port; the server logs the one it got.
cd "$root"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" ${server_pin[@]+"${server_pin[@]}"} \
  "$python" -m beemo beemo.examples.hello:app --bind 127.0.0.1:0 2>"$log" &
pid=$!
url=
for _ in $(seq 100); do
  url=$(sed -n 's/.*Listening at: \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "wrk.sh: error: beemo did not start:" >&2
  cat "$log" >&2
  exit 1
fi

# One sanity request before measuring: a server that answers wrongly is not worth timing.
body=$("$python" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end="")' "$url/")
if [ "$body" != "Hello from Beemo!" ]; then
  echo "wrk.sh: error: GET $url/ answered ${body@Q}" >&2
  exit 1
fi

echo "beemo $("$python" -c 'import beemo; print(beemo.__version__)') at $url" \
     "(server: ${server_pin[*]:-not pinned}; wrk: ${client_pin[*]:-not pinned}; $(nproc) CPUs)"
failed=0
run() {
  local title=$1
  shift
  echo
  echo "== $title: wrk -t1 -c$connections -d$duration --latency $*"
  local out
  out=$(${client_pin[@]+"${client_pin[@]}"} wrk -t1 -c"$connections" -d"$duration" --latency "$@")
  echo "$out"
  if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
    echo "wrk.sh: error: $title got non-2xx/3xx responses" >&2
    failed=1
  fi
}
run "GET / (keep-alive)" "$url/"
run "POST /echo, 1 KiB body (keep-alive)" -s "$here/post.lua" "$url/echo"

if ! kill -0 "$pid" 2>/dev/null; then
  echo "wrk.sh: error: beemo died during the run:" >&2
  cat "$log" >&2
  exit 1
fi
exit "$failed"
