#!/usr/bin/env python3
"""tidemark apply against psql running the same SQL, in one run, as ratios.

For each size (150 steps over 10 apps, and 10x that), on a fresh database each time:
  - psql -f: every step as BEGIN; <its SQL>; INSERT INTO django_migrations ...; COMMIT;
    in tidemark's own order (the baseline: the least any tool must do);
  - tidemark apply of the same steps (plus its history rows, lock and checks);
  - tidemark apply again on the migrated database (the no-op re-apply).
Reports median wall time, the ratio tidemark/psql, and peak RSS (from wait4's rusage).

Usage: bench/engine_vs_psql.py [--tidemark build/bin/tidemark] [--repeat 5] [--sizes 10,100]
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

# 15 realistic steps per app: tables, foreign keys across apps, indexes, column changes.
STEP_TEMPLATES = [
    ("0001_initial", """CREATE TABLE "{a}_item" ("id" bigserial PRIMARY KEY, "name" varchar(200) NOT NULL, "created" timestamp with time zone NOT NULL DEFAULT now());
CREATE TABLE "{a}_tag" ("id" bigserial PRIMARY KEY, "label" varchar(50) NOT NULL UNIQUE);"""),
    ("0002_item_owner", """ALTER TABLE "{a}_item" ADD COLUMN "owner_id" bigint NULL;
{fk}"""),
    ("0003_item_price", """ALTER TABLE "{a}_item" ADD COLUMN "price_cents" integer NOT NULL DEFAULT 0;"""),
    ("0004_item_name_idx", """CREATE INDEX "{a}_item_name_idx" ON "{a}_item" ("name");"""),
    ("0005_item_tags", """CREATE TABLE "{a}_item_tags" ("id" bigserial PRIMARY KEY, "item_id" bigint NOT NULL, "tag_id" bigint NOT NULL);
ALTER TABLE "{a}_item_tags" ADD CONSTRAINT "{a}_item_tags_item_fk" FOREIGN KEY ("item_id") REFERENCES "{a}_item" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "{a}_item_tags" ADD CONSTRAINT "{a}_item_tags_tag_fk" FOREIGN KEY ("tag_id") REFERENCES "{a}_tag" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE UNIQUE INDEX "{a}_item_tags_uniq" ON "{a}_item_tags" ("item_id", "tag_id");"""),
    ("0006_price_check", """ALTER TABLE "{a}_item" ADD CONSTRAINT "{a}_price_nonneg" CHECK ("price_cents" >= 0);"""),
    ("0007_name_longer", """ALTER TABLE "{a}_item" ALTER COLUMN "name" TYPE varchar(300);"""),
    ("0008_item_sku", """ALTER TABLE "{a}_item" ADD COLUMN "sku" varchar(64) NULL;
CREATE UNIQUE INDEX "{a}_item_sku_uniq" ON "{a}_item" ("sku");"""),
    ("0009_rename_created", """ALTER TABLE "{a}_item" RENAME COLUMN "created" TO "created_at";"""),
    ("0010_event", """CREATE TABLE "{a}_event" ("id" bigserial PRIMARY KEY, "item_id" bigint NOT NULL REFERENCES "{a}_item" ("id") DEFERRABLE INITIALLY DEFERRED, "kind" varchar(20) NOT NULL, "at" timestamp with time zone NOT NULL DEFAULT now());
CREATE INDEX "{a}_event_item_idx" ON "{a}_event" ("item_id", "at");"""),
    ("0011_item_active", """ALTER TABLE "{a}_item" ADD COLUMN "active" boolean NOT NULL DEFAULT true;"""),
    ("0012_tag_color", """ALTER TABLE "{a}_tag" ADD COLUMN "color" char(7) NULL;"""),
    ("0013_event_payload", """ALTER TABLE "{a}_event" ADD COLUMN "payload" jsonb NOT NULL DEFAULT '{{}}'::jsonb;"""),
    ("0014_drop_tag_color", """ALTER TABLE "{a}_tag" DROP COLUMN "color";"""),
    ("0015_item_view", """CREATE VIEW "{a}_active_item" AS SELECT "id", "name", "price_cents" FROM "{a}_item" WHERE "active";"""),
]


def make_steps(apps):
    steps = []
    for i in range(apps):
        app = "app%03d" % i
        previous = None
        for name, sql in STEP_TEMPLATES:
            deps = [f"{app}.{previous}"] if previous else []
            fk = ""
            if name == "0002_item_owner":
                if i > 0:
                    other = "app%03d" % (i - 1)
                    deps.append(f"{other}.0001_initial")
                    fk = (f'ALTER TABLE "{app}_item" ADD CONSTRAINT "{app}_item_owner_fk" FOREIGN KEY ("owner_id") '
                          f'REFERENCES "{other}_item" ("id") DEFERRABLE INITIALLY DEFERRED;')
            steps.append({"app": app, "name": name, "dependencies": deps,
                          "forward": sql.format(a=app, fk=fk)})
            previous = name
    return steps


def write_plan(path, steps):
    plan = {"apiVersion": "tidemark.dev/v1alpha1", "kind": "MigrationPlan",
            "metadata": {"name": "bench"},
            "spec": {"policy": {"lint": "Off"}, "migrations": steps}}
    with open(path, "w") as f:
        json.dump(plan, f)


def psql_text(ordered_steps):
    """Django's ledger table, then each step as BEGIN; <SQL>; its ledger row; COMMIT:
    the least any tool must do."""
    text = ['CREATE TABLE "django_migrations" ("id" serial NOT NULL PRIMARY KEY, "app" varchar(255) NOT NULL, '
            '"name" varchar(255) NOT NULL, "applied" timestamp with time zone NOT NULL);\n']
    for step in ordered_steps:
        text.append("BEGIN;\n" + step["forward"].rstrip().rstrip(";") + ";\n")
        text.append("INSERT INTO django_migrations (app, name, applied) VALUES ('%s', '%s', now());\n"
                    % (step["app"], step["name"]))
        text.append("COMMIT;\n")
    return "".join(text)


def psql_script(path, ordered_steps):
    with open(path, "w") as f:
        f.write(psql_text(ordered_steps))


def timed(argv):
    """Runs argv; returns (seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("failed: %s\n%s" % (" ".join(argv), proc.stderr.read().decode()))
    return elapsed, usage.ru_maxrss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tidemark", default=os.path.join(ROOT, "build/bin/tidemark"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="10,100", help="numbers of apps (15 steps each)")
    args = parser.parse_args()

    sandbox = tempfile.mkdtemp(prefix="tidemark-bench-")
    server = subprocess.check_output([os.path.join(ROOT, "tools/pg-sandbox"), "start", sandbox],
                                     text=True).strip()
    counter = [0]

    def fresh_db():
        counter[0] += 1
        name = "bench_%d" % counter[0]
        subprocess.check_call(["psql", "-X", "-q", server, "-c", 'CREATE DATABASE "%s"' % name])
        return server.replace("dbname=postgres", "dbname=" + name)

    try:
        print("%-8s %-9s %10s %10s %7s %10s %10s %12s" % (
            "steps", "apps", "psql s", "tidemark s", "ratio", "psql KiB", "tm KiB", "no-op ms"))
        for apps in [int(s) for s in args.sizes.split(",")]:
            steps = make_steps(apps)
            work = tempfile.mkdtemp(prefix="tidemark-bench-plan-")
            plan = os.path.join(work, "plan.json")
            write_plan(plan, steps)
            # psql runs the steps in tidemark's own order.
            order = json.loads(subprocess.check_output(
                [args.tidemark, "plan", "-f", plan, "--database", fresh_db(), "-o", "json"]))
            by_id = {f'{s["app"]}.{s["name"]}': s for s in steps}
            ordered = [by_id[p["migration"]] for p in order["status"]["pending"]]
            if len(ordered) < len(steps):  # the status lists at most 50: take the rest in order
                listed = {f'{s["app"]}.{s["name"]}' for s in ordered}
                ordered += [s for s in steps if f'{s["app"]}.{s["name"]}' not in listed]
            script = os.path.join(work, "baseline.sql")
            psql_script(script, ordered)
            psql_times, tm_times, noop_times, psql_rss, tm_rss = [], [], [], [], []
            for _ in range(args.repeat):
                t, rss = timed(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", script, fresh_db()])
                psql_times.append(t)
                psql_rss.append(rss)
                db = fresh_db()
                t, rss = timed([args.tidemark, "apply", "-f", plan, "--database", db])
                tm_times.append(t)
                tm_rss.append(rss)
                t, _ = timed([args.tidemark, "apply", "-f", plan, "--database", db])
                noop_times.append(t)
            p, m = statistics.median(psql_times), statistics.median(tm_times)
            print("%-8d %-9d %10.3f %10.3f %7.2f %10d %10d %12.1f" % (
                len(steps), apps, p, m, m / p, max(psql_rss), max(tm_rss),
                statistics.median(noop_times) * 1000))
    finally:
        subprocess.call([os.path.join(ROOT, "tools/pg-sandbox"), "stop", sandbox])
        subprocess.call(["rm", "-rf", sandbox])


if __name__ == "__main__":
    main()
