#!/usr/bin/env bash
# The Python Flight SQL client test (docs/server.md): builds tsq, makes
# a small demo store, saves `tsq query`'s answers to the
# TSBS queries, starts the server on 127.0.0.1 (bounded by `timeout`), runs
# tests/python/flight_sql_client.py against it, stops the server.
# Needs: pip install adbc-driver-flightsql pyarrow.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tsq-ci-target}"
cargo build -q -p tsq --bin tsq --example tsbs_queries
bin="$CARGO_TARGET_DIR/debug"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/tsq" --data "$work/store" demo --hosts 4 --hours 2 --no-repl >/dev/null
"$bin/examples/tsbs_queries" --hosts 4 --hours 2 >"$work/queries.json"
python3 tests/python/flight_sql_client.py expect --tsq "$bin/tsq" --data "$work/store" \
    --queries "$work/queries.json" --out "$work/expected.json"
head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$work/token"

# The server: `tsq serve`, both listeners on ports the system picks.
timeout 300 "$bin/tsq" serve --data "$work/store" --http 127.0.0.1:0 --flight 127.0.0.1:0 \
    --token-file "$work/token" >"$work/server.out" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
    addr="$(sed -n 's/^tsq serve: flight listening on //p' "$work/server.out")"
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.out"; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "the Flight SQL server did not start"; cat "$work/server.out"; exit 1; }

python3 tests/python/flight_sql_client.py check --uri "grpc://$addr" \
    --token-file "$work/token" --expected "$work/expected.json"

# A clean stop: SIGTERM ends the server with status 0 after closing the store.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
if [ "$status" -ne 0 ]; then
    echo "the Flight SQL server exited with status $status on SIGTERM"
    cat "$work/server.out"
    exit 1
fi
echo "ok  the server stopped cleanly on SIGTERM"
