#!/usr/bin/python3
"""`tidemark apply` against `manage.py migrate` on the Django bridge's test project.

Starts a private PostgreSQL (tools/pg-sandbox), exports the project once with
`manage.py tidemark_export`, then for each repetition migrates two fresh databases, one
with each tool (alternating which goes first), and measures the wall time and the peak
resident memory of each process (wait4's rusage: that process and what it waited for).
Prints a table and the ratios of the medians; --json writes the raw numbers too.

    bench/django_vs_tidemark.py [--repetitions 7] [--tidemark build/bin/tidemark] [--json out.json]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "django"))
os.environ.setdefault("TIDEMARK_SOURCE_DIR", SOURCE_DIR)

import support  # noqa: E402  (the tests' server and project helpers)


def run_measured(command, env):
    """Runs COMMAND; returns (seconds, peak RSS in MiB of that process, and the CPU seconds,
    user and system, of it and the children it waited for), from wait4."""
    with tempfile.TemporaryFile() as errors:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                os.chdir(support.PROJECT_DIR)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(errors.fileno(), 2)
                os.execve(command[0], command, env)
            finally:
                os._exit(127)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - start
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit("%s exited %d:\n%s" % (" ".join(command), os.waitstatus_to_exitcode(status),
                                                    errors.read().decode(errors="replace")))
    return seconds, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime  # RSS: in KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--tidemark", default=support.TIDEMARK)
    parser.add_argument("--json", help="Also write the raw numbers here.")
    args = parser.parse_args()
    args.tidemark = os.path.abspath(args.tidemark)
    if not os.access(args.tidemark, os.X_OK):
        raise SystemExit("no tidemark binary at %s: build it with tools/build" % args.tidemark)

    server = support.Server()
    try:
        project_dsn = server.create_database("project")
        documents, _ = support.export(project_dsn, "--name", "bench", "--python-steps", "RecordOnly")
        plan_dir = tempfile.mkdtemp(prefix="tidemark-bench-")
        plan = os.path.join(plan_dir, "plan.yaml")
        support.write_yaml(plan, documents)
        steps = len(documents[0]["spec"]["migrations"])

        django_env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE_DIR, "tools", "django"))
        tidemark_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        results = {"django": [], "tidemark": []}
        for repetition in range(args.repetitions):
            django_dsn = server.create_database("django_%d" % repetition)
            tidemark_dsn = server.create_database("tidemark_%d" % repetition)
            runs = [
                ("django", [support.PYTHON, "manage.py", "migrate", "-v", "0"],
                 dict(django_env, DATABASE_URL=django_dsn)),
                ("tidemark", [args.tidemark, "apply", "-f", plan, "--database", tidemark_dsn], tidemark_env),
            ]
            if repetition % 2:
                runs.reverse()
            for tool, command, env in runs:
                seconds, rss, _ = run_measured(command, env)
                results[tool].append({"seconds": seconds, "peak_rss_mib": rss})
            # Same result, or the comparison means nothing.
            if server.ledger("django_%d" % repetition) != server.ledger("tidemark_%d" % repetition):
                raise SystemExit("the two databases disagree on the ledger")
    finally:
        server.stop()

    def median(tool, field):
        return statistics.median(r[field] for r in results[tool])

    print("project: Django contrib apps + tests/django/project, %d steps, %d repetitions" % (steps, args.repetitions))
    print("%-10s %14s %16s" % ("", "wall (median)", "peak RSS (median)"))
    for tool in ("django", "tidemark"):
        print("%-10s %12.3f s %13.1f MiB" % (tool, median(tool, "seconds"), median(tool, "peak_rss_mib")))
    time_ratio = median("django", "seconds") / median("tidemark", "seconds")
    memory_ratio = median("tidemark", "peak_rss_mib") / median("django", "peak_rss_mib")
    print("tidemark is %.1fx faster and uses %.1f%% of Django's peak memory" % (time_ratio, 100 * memory_ratio))
    if args.json:
        with open(args.json, "w") as output:
            json.dump({"steps": steps, "runs": results, "speedup": time_ratio, "memory_fraction": memory_ratio},
                      output, indent=2)


if __name__ == "__main__":
    main()
