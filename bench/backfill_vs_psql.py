#!/usr/bin/env python3
"""tidemark's back-fill (kind: Backfill) against psql running the same batch statement in a
shell loop, as ratios.

For each size, on a fresh database each time: a table of N rows with a NULL column, then
  - psql: a shell loop of `psql -c "<batch statement>"` (one connection per batch, each its
    own transaction, as a script would do it) until the command tag says UPDATE 0;
  - psql1: the same batches from one psql session, their number known in advance (the
    least any tool must do: BEGIN; SET LOCAL lock_timeout; <statement>; COMMIT per batch);
  - tidemark apply of a plan with that statement as a back-fill (batchDelay 0), which also
    writes its progress row in each batch's transaction and takes the ledger's lock.
Reports median wall time and the ratios tidemark/psql and tidemark/psql1.

Usage: bench/backfill_vs_psql.py [--tidemark build/bin/tidemark] [--repeat 3]
       [--rows 100000,1000000] [--batch 5000]
Machines here are shared and noisy: compare the ratios, not the seconds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def batch_statement(batch):
    return ("UPDATE bf_item SET c = id * 2 WHERE id IN (SELECT id FROM bf_item WHERE c IS NULL "
            "LIMIT %d)" % batch)


def write_plan(path, batch):
    plan = {"apiVersion": "tidemark.dev/v1alpha1", "kind": "MigrationPlan",
            "metadata": {"name": "bench"},
            "spec": {"policy": {"lint": "Off", "lockTimeout": "5s"},
                     "migrations": [{"app": "bf", "name": "0001_fill", "kind": "Backfill",
                                     "batchDelay": "0", "forward": batch_statement(batch)}]}}
    with open(path, "w") as f:
        json.dump(plan, f)


def timed(argv, shell=False):
    start = time.perf_counter()
    done = subprocess.run(argv, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit("failed: %s\n%s" % (argv, done.stderr.decode()))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tidemark", default=os.path.join(ROOT, "build/bin/tidemark"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    sandbox = tempfile.mkdtemp(prefix="tidemark-bench-")
    server = subprocess.check_output([os.path.join(ROOT, "tools/pg-sandbox"), "start", sandbox],
                                     text=True).strip()
    counter = [0]

    def fresh_db(rows):
        counter[0] += 1
        name = "bench_%d" % counter[0]
        subprocess.check_call(["psql", "-X", "-q", server, "-c", 'CREATE DATABASE "%s"' % name])
        dsn = server.replace("dbname=postgres", "dbname=" + name)
        subprocess.check_call(["psql", "-X", "-q", dsn, "-c",
                               "CREATE TABLE bf_item (id int PRIMARY KEY, c int); INSERT INTO "
                               "bf_item SELECT g FROM generate_series(1, %d) g" % rows,
                               "-c", "VACUUM ANALYZE bf_item"])
        return dsn

    def check(dsn, rows):
        filled = subprocess.check_output(["psql", "-X", "-tA", dsn, "-c",
                                          "SELECT count(*) FROM bf_item WHERE c = id * 2"],
                                         text=True).strip()
        if filled != str(rows):
            sys.exit("only %s of %d rows filled" % (filled, rows))

    statement = batch_statement(args.batch)
    # A shell loop, one psql (one connection) per batch, each batch its own transaction with
    # lock_timeout; psql prints BEGIN, SET, then the statement's tag: stop at UPDATE 0.
    loop = ('while [ "$(printf \'BEGIN;\\nSET LOCAL lock_timeout = 5000;\\n%s;\\n'
            'COMMIT;\\n\' | psql -X -v ON_ERROR_STOP=1 "$DSN" | sed -n 3p)" != "UPDATE 0" ]; '
            'do :; done' % statement)
    try:
        print("%-10s %6s %8s %9s %11s %7s %7s" % (
            "rows", "batch", "psql s", "psql1 s", "tidemark s", "tm/psql", "tm/psql1"))
        for rows in [int(s) for s in args.rows.split(",")]:
            work = tempfile.mkdtemp(prefix="tidemark-bench-plan-")
            plan = os.path.join(work, "plan.json")
            write_plan(plan, args.batch)
            batches = (rows + args.batch - 1) // args.batch + 1
            one_session = os.path.join(work, "one_session.sql")
            with open(one_session, "w") as f:
                # The batches known in advance (the loop's count), each its own transaction.
                for _ in range(batches):
                    f.write("BEGIN;\nSET LOCAL lock_timeout = '5s';\n%s;\nCOMMIT;\n" % statement)
            psql_times, session_times, tm_times = [], [], []
            for _ in range(args.repeat):
                dsn = fresh_db(rows)
                os.environ["DSN"] = dsn
                psql_times.append(timed(loop, shell=True))
                check(dsn, rows)
                dsn = fresh_db(rows)
                session_times.append(timed(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                                            one_session, dsn]))
                check(dsn, rows)
                dsn = fresh_db(rows)
                tm_times.append(timed([args.tidemark, "apply", "-f", plan, "--database", dsn]))
                check(dsn, rows)
            p, s, m = (statistics.median(psql_times), statistics.median(session_times),
                       statistics.median(tm_times))
            print("%-10d %6d %8.3f %9.3f %11.3f %7.2f %7.2f" % (rows, args.batch, p, s, m,
                                                                 m / p, m / s))
    finally:
        subprocess.call([os.path.join(ROOT, "tools/pg-sandbox"), "stop", sandbox])
        subprocess.call(["rm", "-rf", sandbox])


if __name__ == "__main__":
    main()
