#!/usr/bin/env python3
"""The Python Flight SQL client test of `tsq serve` (docs/server.md).

Two steps, because a running server holds the store's writer lock and
`tsq query` cannot open it meanwhile:

  expect  runs each query with `tsq query --format json` on the store and
          saves the answers (before the server starts);
  check   connects to the server with ADBC (adbc-driver-flightsql) and a
          token, runs the same queries, and compares every column name and
          value with the saved answers; runs one query through plain
          pyarrow.flight (the docs' example); checks that a wrong or missing
          token fails with Unauthenticated.

Exit status 0 when everything matches; the first mismatch is printed.
"""

import argparse
import datetime
import json
import math
import subprocess
import sys


# Besides the TSBS queries: raw points of one host (many rows, two value
# columns), the TSBS set's one raw query being empty on a small store.
EXTRA = [
    {
        "name": "raw-one-host",
        "tsq": "SELECT usage_user, usage_system FROM cpu WHERE hostname = 'host_1'",
    }
]


def run_expect(args):
    queries = json.load(open(args.queries)) + EXTRA
    answers = []
    for q in queries:
        out = subprocess.run(
            [args.tsq, "--data", args.data, "--format", "json", "query", q["tsq"]],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        answers.append({"name": q["name"], "tsq": q["tsq"], "rows": json.loads(out)})
    json.dump(answers, open(args.out, "w"))
    print(f"saved the answers of {len(answers)} queries from tsq query")


def ns_of(text):
    """An RFC 3339 instant (tsq's JSON output) in ns since the epoch."""
    t = datetime.datetime.fromisoformat(text)
    return (
        int(t.replace(microsecond=0).timestamp()) * 1_000_000_000
        + t.microsecond * 1000
    )


def rows_of(table):
    """A pyarrow table as rows of dicts, time in ns since the epoch."""
    import pyarrow as pa

    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        columns[name] = col.to_pylist()
    return [
        {name: columns[name][i] for name in table.column_names}
        for i in range(table.num_rows)
    ]


def same_value(got, want):
    if got is None or want is None:
        return got is None and want is None
    if isinstance(want, float) or isinstance(got, float):
        if math.isnan(got) and math.isnan(want):
            return True
        return float(got) == float(want)
    return got == want


def compare(name, table, expected_rows):
    got = rows_of(table)
    if len(got) != len(expected_rows):
        sys.exit(f"{name}: {len(got)} rows over Flight SQL, {len(expected_rows)} from tsq query")
    for i, (g, w) in enumerate(zip(got, expected_rows)):
        if list(g) != list(w):
            sys.exit(f"{name}: row {i}: columns {list(g)} over Flight SQL, {list(w)} from tsq query")
        for column, want in w.items():
            if column == "time":
                want = ns_of(want)
            if not same_value(g[column], want):
                sys.exit(
                    f"{name}: row {i} column {column}: {g[column]!r} over Flight SQL, "
                    f"{want!r} from tsq query"
                )


def adbc_connect(uri, token):
    import adbc_driver_flightsql.dbapi as flight_sql
    from adbc_driver_flightsql import DatabaseOptions

    kwargs = {}
    if token is not None:
        kwargs[DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
    # tsq is read-only: no transactions, so autocommit.
    return flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True)


def any_command(type_name, query):
    """A Flight SQL command (`google.protobuf.Any` wrapping a message whose
    field 1 is the query string), encoded by hand so that plain
    pyarrow.flight can send it."""

    def field(number, payload):
        key, size, n = bytes([number << 3 | 2]), b"", len(payload)
        while True:
            byte, n = n & 0x7F, n >> 7
            size += bytes([byte | (0x80 if n else 0)])
            if not n:
                return key + size + payload

    url = f"type.googleapis.com/arrow.flight.protocol.sql.{type_name}".encode()
    return field(1, url) + field(2, field(1, query.encode()))


def pyarrow_flight_query(uri, token, sql):
    import pyarrow.flight as flight

    client = flight.FlightClient(uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    descriptor = flight.FlightDescriptor.for_command(any_command("CommandStatementQuery", sql))
    info = client.get_flight_info(descriptor, options)
    return client.do_get(info.endpoints[0].ticket, options).read_all()


def expect_unauthenticated(what, run):
    try:
        run()
    except Exception as e:  # the driver's error class varies by version
        if "unauthenticated" not in str(e).lower():
            sys.exit(f"{what}: failed, but not as Unauthenticated: {e}")
        return
    sys.exit(f"{what}: succeeded")


def run_check(args):
    token = open(args.token_file).read().strip()
    answers = json.load(open(args.expected))
    with adbc_connect(args.uri, token) as conn:
        with conn.cursor() as cur:
            for a in answers:
                cur.execute(a["tsq"])
                table = cur.fetch_arrow_table()
                compare(a["name"], table, a["rows"])
                print(f"ok  {a['name']}: {table.num_rows} rows equal over ADBC")
        tables = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        names = [
            t["table_name"]
            for c in tables
            for s in c["catalog_db_schemas"]
            for t in s["db_schema_tables"]
        ]
        if "cpu" not in names:
            sys.exit(f"GetTables: no cpu table in {names}")
        print(f"ok  GetTables over ADBC: {names}")

    first = answers[0]
    compare(first["name"], pyarrow_flight_query(args.uri, token, first["tsq"]), first["rows"])
    print(f"ok  {first['name']} equal over pyarrow.flight")

    sql = answers[0]["tsq"]
    for label, bad in [("a wrong token", token + "x"), ("no token", None)]:
        def attempt(bad=bad):
            with adbc_connect(args.uri, bad) as conn:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    cur.fetch_arrow_table()

        expect_unauthenticated(f"ADBC with {label}", attempt)
        print(f"ok  ADBC with {label}: Unauthenticated")
    expect_unauthenticated(
        "pyarrow.flight with a wrong token",
        lambda: pyarrow_flight_query(args.uri, token + "x", sql),
    )
    print("ok  pyarrow.flight with a wrong token: Unauthenticated")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True)
    e = sub.add_parser("expect", help="save tsq query's answers (server stopped)")
    e.add_argument("--tsq", required=True, help="the tsq binary")
    e.add_argument("--data", required=True, help="the store directory")
    e.add_argument("--queries", required=True, help="JSON [{name, tsq}] (examples/tsbs_queries.rs)")
    e.add_argument("--out", required=True)
    c = sub.add_parser("check", help="query the running server and compare")
    c.add_argument("--uri", required=True, help="grpc://127.0.0.1:PORT")
    c.add_argument("--token-file", required=True)
    c.add_argument("--expected", required=True, help="the file `expect` wrote")
    args = p.parse_args()
    run_expect(args) if args.step == "expect" else run_check(args)


if __name__ == "__main__":
    main()
