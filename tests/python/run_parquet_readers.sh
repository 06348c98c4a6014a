#!/usr/bin/env bash
# Parquet out, read by others (issue 12 item 6, docs/cli.md "Parquet"):
# imports generated line protocol, exports it with `tsq export --format
# parquet`, asks tsq for the count and sums, and checks that DuckDB, pandas
# and DataFusion read the same from the file (tests/python/parquet_readers.py).
# Needs: pip install duckdb pandas datafusion pyarrow (versions pinned in .ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tsq-ci-target}"
cargo build -q -p tsq --bin tsq
tsq="$CARGO_TARGET_DIR/debug/tsq"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 tests/python/parquet_readers.py generate "$work/in.lp" "$work/expected.json"
"$tsq" --data "$work/store" import "$work/in.lp" >/dev/null
"$tsq" --data "$work/store" --format parquet export "$work/m.parquet" >/dev/null

# tsq's own answers: every timeline's count / sum, added across timelines.
answer() {
    "$tsq" --data "$work/store" --format csv query "$1" | sed -n '2p' | cut -d, -f2
}
count=$(answer "SELECT sum(v) FROM m SAMPLE BY ALL count")
sum_v=$(answer "SELECT sum(v) FROM m SAMPLE BY ALL sum")
sum_i=$(answer "SELECT sum(i) FROM m SAMPLE BY ALL sum")
printf '{"count": %s, "sum_v": %s, "sum_i": %s}\n' "$count" "$sum_v" "$sum_i" >"$work/tsq.json"
cat "$work/tsq.json"
python3 tests/python/parquet_readers.py check "$work/m.parquet" "$work/expected.json" "$work/tsq.json"
