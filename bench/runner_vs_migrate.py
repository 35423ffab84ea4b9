#!/usr/bin/python3
"""One python step through tidemark's runner against Django's own `migrate APP NAME`.

Starts a private PostgreSQL (tools/pg-sandbox) and exports the test project's `stock` app
(testproject.settings_runner) with `--python-steps Run`. For each repetition it brings three
fresh databases to stock.0002 with ROWS items, then runs the back-fill stock.0003_fill_code
(a RunPython over every row) on one with `manage.py migrate stock 0003_fill_code` and on
the others with `tidemark apply --target stock.0003_fill_code` (the runner: `manage.py
tidemark_step apply stock 0003_fill_code`), with postMigrate on (the step's process then
emits post_migrate, as `migrate` does in its own) and off, alternating the order. Prints the medians of wall time and of CPU time (user and
system, the children's included), and tidemark's extra time as the median of the
differences within a repetition (the runs of one repetition follow each other, so the
machine's load changes less between them than between repetitions). `--instructions` then
also counts, once per tool, the instructions it and every process it starts execute
(valgrind's callgrind, PYTHONHASHSEED=0), a cost that does not move with the machine's load,
and gives tidemark's extra instructions in milliseconds at `migrate`'s own instructions per
millisecond.

    bench/runner_vs_migrate.py [--repetitions 15] [--rows 4000] [--tidemark build/bin/tidemark]
                               [--instructions]
"""

import argparse
import copy
import glob
import os
import shutil
import subprocess
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
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--tidemark", default=support.TIDEMARK)
    parser.add_argument("--instructions", action="store_true",
                        help="also count each tool's instructions once (valgrind, ~2 minutes)")
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
        cpu = {tool: [] for tool in tools}

        def prepare(tool, name):
            """A database at stock.0002 with the rows, and TOOL's command and environment."""
            dsn = server.create_database(name)
            support.manage(dsn, "migrate", "stock", "0001", "-v", "0", env=support.RUNNER_SETTINGS)
            support.seed_stock_items(server, name, args.rows)
            support.manage(dsn, "migrate", "stock", "0002", "-v", "0", env=support.RUNNER_SETTINGS)
            if tool == "django":
                return ([support.PYTHON, "manage.py", "migrate", "stock", STEP, "-v", "0"],
                        dict(django_env, DATABASE_URL=dsn))
            return ([args.tidemark, "apply", "-f", plans[tool == "tidemark"], "--database", dsn,
                     "--target", "stock." + STEP], dict(tidemark_env, BENCH_DSN=dsn))

        for repetition in range(args.repetitions):
            runs = []
            for tool in tools:
                name = "%s_%d" % (tool.replace("-", "_"), repetition)
                runs.append((tool, name, *prepare(tool, name)))
            if repetition % 2:
                runs.reverse()
            for tool, name, command, env in runs:
                seconds, _, cpu_seconds = run_measured(command, env)
                results[tool].append(seconds)
                cpu[tool].append(cpu_seconds)
                check_applied(server, tool, name)
        instructions = {}
        if args.instructions:
            for tool in tools:
                name = "%s_counted" % tool.replace("-", "_")
                instructions[tool] = count_instructions(*prepare(tool, name))
                check_applied(server, tool, name)
    finally:
        server.stop()

    print("step: stock.%s (RunPython over %d rows), %d repetitions" % (STEP, args.rows, args.repetitions))
    print("%-26s %10s %10s %22s %22s" % ("", "wall", "CPU", "wall - migrate", "CPU - migrate"))
    for tool in tools:
        line = "%-26s %8.3f s %8.3f s" % (tool, statistics.median(results[tool]), statistics.median(cpu[tool]))
        if tool != "django":
            for measure in (results, cpu):
                extra = sorted(1000 * (a - b) for a, b in zip(measure[tool], measure["django"]))
                quartiles = statistics.quantiles(extra, n=4)
                line += "  %+5.0f ms [%+4.0f, %+4.0f]" % (statistics.median(extra), quartiles[0], quartiles[2])
        print(line)
    print("(medians; the differences: median [quartiles] of tidemark - migrate within a repetition)")
    if instructions:
        per_ms = instructions["django"] / (1000 * statistics.median(cpu["django"]))
        for tool in tools:
            extra = instructions[tool] - instructions["django"]
            print("%-26s %14d instructions%s" % (tool, instructions[tool], "" if tool == "django" else
                  "  (%+d: %+.0f ms at migrate's %.0f per ms of CPU)" % (extra, extra / per_ms, per_ms)))


def check_applied(server, tool, dbname):
    if ("stock", STEP) not in server.ledger(dbname):
        raise SystemExit("%s did not apply stock.%s" % (tool, STEP))


def count_instructions(command, env):
    """Instructions executed by COMMAND and every process it starts (callgrind's totals)."""
    folder = tempfile.mkdtemp(prefix="tidemark-bench-callgrind-")
    try:
        subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes",
                        "--callgrind-out-file=%s/out.%%p" % folder] + command,
                       env=dict(env, PYTHONHASHSEED="0"), cwd=support.PROJECT_DIR,
                       capture_output=True, check=True)
        total = 0
        for path in glob.glob(os.path.join(folder, "out.*")):
            with open(path, errors="replace") as counts:
                total += next(int(line.split()[1]) for line in counts
                              if line.startswith(("summary:", "totals:")))
        return total
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
