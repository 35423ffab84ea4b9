#!/usr/bin/python3
"""One python step through tidemark's runner against Django's own `migrate APP NAME`.

Starts a private PostgreSQL (tools/pg-sandbox) and exports the test project's `stock` app
(testproject.settings_runner) with `--python-steps Run`. For each repetition it brings two
fresh databases to stock.0002 with ROWS items, then runs the back-fill stock.0003_fill_code
(a RunPython over every row) on one with `manage.py migrate stock 0003_fill_code` and on
the other with `tidemark apply --target stock.0003_fill_code` (the runner: `manage.py
tidemark_step apply stock 0003_fill_code`), alternating which goes first. With postMigrate
on, tidemark then runs `post-migrate` in a second process, which `migrate` does in its
own; both variants are measured. Prints the medians and tidemark's extra time.

    bench/runner_vs_migrate.py [--repetitions 7] [--rows 4000] [--tidemark build/bin/tidemark]
"""

import argparse
import copy
import os
import statistics
import sys
import tempfile

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "django"))
os.environ.setdefault("TIDEMARK_SOURCE_DIR", SOURCE_DIR)

import support  # noqa: E402  (the tests' server and project helpers)
import yaml  # noqa: E402
from django_vs_tidemark import run_measured  # noqa: E402

STEP = "0003_fill_code"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--tidemark", default=support.TIDEMARK)
    args = parser.parse_args()
    args.tidemark = os.path.abspath(args.tidemark)
    if not os.access(args.tidemark, os.X_OK):
        raise SystemExit("no tidemark binary at %s: build it with tools/build" % args.tidemark)

    pythonpath = os.pathsep.join([os.path.join(SOURCE_DIR, "tools", "django"), support.PROJECT_DIR])
    server = support.Server()
    try:
        exported = support.manage(server.create_database("export"), "tidemark_export", "stock", "--name", "bench",
                                  "--python-steps", "Run", "--runner-command",
                                  "%s manage.py tidemark_step" % support.PYTHON, env=support.RUNNER_SETTINGS)
        documents = list(yaml.safe_load_all(exported.stdout))
        runner = documents[0]["spec"]["runner"]
        runner["workingDir"] = support.PROJECT_DIR
        runner["env"] += [{"name": "DATABASE_URL", "valueFrom": {"env": "BENCH_DSN"}},
                          {"name": "PYTHONPATH", "value": pythonpath}]
        plan_dir = tempfile.mkdtemp(prefix="tidemark-bench-runner-")
        plans = {}
        for post_migrate in (True, False):
            variant = copy.deepcopy(documents)
            variant[0]["spec"]["runner"]["postMigrate"] = post_migrate
            plans[post_migrate] = os.path.join(plan_dir, "plan-%s.yaml" % post_migrate)
            support.write_yaml(plans[post_migrate], variant)

        django_env = dict(os.environ, PYTHONPATH=pythonpath, **support.RUNNER_SETTINGS)
        tidemark_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        tools = ["django", "tidemark", "tidemark-no-post-migrate"]
        results = {tool: [] for tool in tools}
        for repetition in range(args.repetitions):
            runs = []
            for tool in tools:
                name = "%s_%d" % (tool.replace("-", "_"), repetition)
                dsn = server.create_database(name)
                support.manage(dsn, "migrate", "stock", "0001", "-v", "0", env=support.RUNNER_SETTINGS)
                support.seed_stock_items(server, name, args.rows)
                support.manage(dsn, "migrate", "stock", "0002", "-v", "0", env=support.RUNNER_SETTINGS)
                if tool == "django":
                    command = [support.PYTHON, "manage.py", "migrate", "stock", STEP, "-v", "0"]
                    env = dict(django_env, DATABASE_URL=dsn)
                else:
                    command = [args.tidemark, "apply", "-f", plans[tool == "tidemark"], "--database", dsn,
                               "--target", "stock." + STEP]
                    env = dict(tidemark_env, BENCH_DSN=dsn)
                runs.append((tool, name, command, env))
            if repetition % 2:
                runs.reverse()
            for tool, name, command, env in runs:
                seconds, _ = run_measured(command, env)
                results[tool].append(seconds)
                if ("stock", STEP) not in server.ledger(name):
                    raise SystemExit("%s did not apply stock.%s" % (tool, STEP))
    finally:
        server.stop()

    median = {tool: statistics.median(results[tool]) for tool in tools}
    print("step: stock.%s (RunPython over %d rows), %d repetitions" % (STEP, args.rows, args.repetitions))
    for tool in tools:
        extra = "" if tool == "django" else "  (%+.0f ms against migrate)" % (1000 * (median[tool] - median["django"]))
        print("%-26s %8.3f s median%s" % (tool, median[tool], extra))


if __name__ == "__main__":
    main()
