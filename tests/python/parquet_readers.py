"""Reads a Parquet file written by `tsq export` with DuckDB, pandas and
DataFusion, and checks that each gives the count and sums that tsq reports
for the same store and that the generator worked out independently
(docs/cli.md, "Parquet"). Run by tests/python/run_parquet_readers.sh.

    parquet_readers.py generate OUT.lp OUT.json
    parquet_readers.py check FILE.parquet EXPECTED.json TSQ.json
"""

import json
import math
import sys


def generate(lp_path, expected_path):
    """Line protocol for 3 hosts x 400 points (a float with two decimals and
    an integer field), and the count and sums worked out here."""
    count, sum_v, sum_i = 0, 0.0, 0
    lines = []
    for h in range(3):
        for k in range(400):
            v = ((h * 7919 + k * 104729) % 100000) / 100.0
            i = (h + 1) * 1_000_003 * (k + 1) - 5_000_000
            t = 1_704_067_200_000_000_000 + k * 10_000_000_000
            lines.append(f"m,host=host_{h},dc=dc_{h % 2} v={v},i={i}i {t}")
            count += 1
            sum_v += v
            sum_i += i
    with open(lp_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(expected_path, "w") as f:
        json.dump({"count": count, "sum_v": sum_v, "sum_i": sum_i}, f)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def check(parquet, expected_path, tsq_path):
    import datafusion
    import duckdb
    import pandas

    expected = json.load(open(expected_path))
    tsq = json.load(open(tsq_path))
    readers = {}
    con = duckdb.connect()
    row = con.execute(
        "SELECT count(v), sum(v), sum(i) FROM read_parquet(?)", [parquet]
    ).fetchall()[0]
    readers["duckdb"] = (int(row[0]), float(row[1]), int(row[2]))
    df = pandas.read_parquet(parquet)
    readers["pandas"] = (int(df["v"].count()), float(df["v"].sum()), int(df["i"].sum()))
    ctx = datafusion.SessionContext()
    ctx.register_parquet("t", parquet)
    batch = ctx.sql("SELECT count(v) AS c, sum(v) AS sv, sum(i) AS si FROM t").to_pydict()
    readers["datafusion"] = (int(batch["c"][0]), float(batch["sv"][0]), int(batch["si"][0]))

    failures = []
    for name, (count, sum_v, sum_i) in readers.items():
        for what, want in (("generator", expected), ("tsq", tsq)):
            if count != want["count"]:
                failures.append(f"{name}: count {count}, {what} says {want['count']}")
            if not close(sum_v, want["sum_v"]):
                failures.append(f"{name}: sum(v) {sum_v!r}, {what} says {want['sum_v']!r}")
            if sum_i != want["sum_i"]:
                failures.append(f"{name}: sum(i) {sum_i}, {what} says {want['sum_i']}")
        print(f"{name}: count {count}, sum(v) {sum_v!r}, sum(i) {sum_i}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("parquet readers: duckdb, pandas and datafusion agree with tsq")


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}")
