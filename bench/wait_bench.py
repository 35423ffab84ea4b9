#!/usr/bin/env python3
"""`tidemark wait`: how soon it returns after the commit, what it costs while it waits, and
what 1,000 waiters cost the server.

- Latency: 50 times, a waiter for a step that `tidemark apply` then applies; from the
  commit (the server's clock_timestamp() at the end of the step's transaction, read back
  from tidemark_history: started_at + duration) to the waiter's exit. p50, p99, max.
  Target: p99 < 100 ms. The baseline in the same run: how long `tidemark apply` itself
  takes from start to exit, so that the figure can be read against this machine's speed.
- Idle: one waiter for 20 s with no ledger change: its CPU time (utime + stime from
  /proc) and its RSS (VmRSS, VmHWM). Target: 0 CPU, < 12 MiB.
- 1,000 waiters on one database, all LISTENing: the queries they ran during 20 s with no
  change (none: no polling; their 30 s re-check timer is longer), and per waiter and ledger
  change (5 `tidemark apply`s of steps they do not wait for) the statements the server ran
  for them: the re-read each notification causes. Counted with the server's statistics
  (`xact_commit` of the database, minus what `tidemark apply` commits alone, measured on
  a database without waiters).

Usage: bench/wait_bench.py [--tidemark build/bin/tidemark] [--runs 50] [--waiters 1000]
Machines here are shared and noisy: read the ratios and orders of magnitude.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def psql(dsn, sql):
    return subprocess.check_output(["psql", "-X", "-qAt", dsn, "-c", sql], text=True).strip()


def write_plan(path, count):
    steps = []
    for i in range(count):
        step = {"app": "shop", "name": "%04d_step" % (i + 1),
                "forward": 'CREATE TABLE "shop_t%d" (id int);' % (i + 1)}
        if i:
            step["dependencies"] = ["shop.%04d_step" % i]
        steps.append(step)
    plan = {"apiVersion": "tidemark.dev/v1alpha1", "kind": "MigrationPlan",
            "metadata": {"name": "bench"}, "spec": {"policy": {"lint": "Off"}, "migrations": steps}}
    with open(path, "w") as f:
        json.dump(plan, f)


def listening(dsn, count):
    return int(psql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                         "'tidemark-wait' AND state = 'idle'")) >= count


def until(condition, limit=120):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("gave up waiting")
        time.sleep(0.02)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def latency(args, dsn, plan_dir):
    write_plan(os.path.join(plan_dir, "plan.json"), args.runs)
    latencies, applies = [], []
    for i in range(args.runs):
        step = "shop.%04d_step" % (i + 1)
        waiter = subprocess.Popen([args.tidemark, "wait", "--for", step, "--database", dsn,
                                   "--timeout", "60s"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        exited = {}

        def reap():
            waiter.wait()
            exited["at"] = time.time()

        reaper = threading.Thread(target=reap)
        reaper.start()
        until(lambda: listening(dsn, 1))
        start = time.monotonic()
        subprocess.check_call([args.tidemark, "apply", "-f", plan_dir, "--database", dsn,
                               "--target", step], stdout=subprocess.DEVNULL)
        applies.append((time.monotonic() - start) * 1000)
        reaper.join()
        if waiter.returncode != 0:
            raise SystemExit("wait exited %d" % waiter.returncode)
        committed = float(psql(dsn, "SELECT extract(epoch FROM started_at) + duration_ms / 1000.0 "
                                    "FROM tidemark_history WHERE name = '%s' AND action = 'apply'"
                                    % step.split(".")[1]))
        latencies.append((exited["at"] - committed) * 1000)
    return {"runs": args.runs, "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(max(latencies), 1),
            "apply_p50_ms": round(statistics.median(applies), 1)}


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_kib(pid):
    memory = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                memory[key] = int(value.split()[0])
    return memory


def idle(args, dsn):
    waiter = subprocess.Popen([args.tidemark, "wait", "--for", "shop.never", "--database", dsn,
                               "--timeout", "10m"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        until(lambda: listening(dsn, 1))
        before = proc_cpu_seconds(waiter.pid)
        time.sleep(args.idle_seconds)
        cpu = proc_cpu_seconds(waiter.pid) - before
        memory = proc_memory_kib(waiter.pid)
    finally:
        waiter.kill()
        waiter.wait()
    return {"seconds": args.idle_seconds, "cpu_seconds": cpu,
            "rss_mib": round(memory["VmRSS"] / 1024, 2), "peak_rss_mib": round(memory["VmHWM"] / 1024, 2)}


# An idle backend reports its statistics within PGSTAT_IDLE_INTERVAL (10 s).
STATS_FLUSH = 11


def waiter_commits(dsn):
    """Committed transactions in the database (each query outside a transaction is one)."""
    return int(psql(dsn, "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE "
                         "datname = current_database()"))


def many(args, dsn, plan_dir):
    write_plan(os.path.join(plan_dir, "plan.json"), args.changes)
    waiters = [subprocess.Popen([args.tidemark, "wait", "--for", "shop.never", "--database", dsn,
                                 "--timeout", "10m"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(args.waiters)]
    try:
        until(lambda: listening(dsn, args.waiters), limit=300)
        time.sleep(STATS_FLUSH)  # the waiters' first reads reach the statistics
        idle_before = waiter_commits(dsn)
        time.sleep(args.idle_seconds)
        idle_after = waiter_commits(dsn)
        idle_queries = idle_after - idle_before - 1  # the first reading's own transaction
        changes_before = waiter_commits(dsn)
        for i in range(args.changes):
            step = "shop.%04d_step" % (i + 1)
            subprocess.check_call([args.tidemark, "apply", "-f", plan_dir, "--database", dsn,
                                   "--target", step], stdout=subprocess.DEVNULL)
        time.sleep(STATS_FLUSH)  # the waiters' re-reads reach the statistics
        changes_after = waiter_commits(dsn)
        alive = sum(1 for w in waiters if w.poll() is None)
        rss = [proc_memory_kib(w.pid)["VmRSS"] for w in waiters[:50]]
    finally:
        for w in waiters:
            w.kill()
        for w in waiters:
            w.wait()
    return {"waiters": args.waiters, "alive": alive, "changes": args.changes,
            "idle_seconds": args.idle_seconds, "queries_while_idle": idle_queries,
            "commits_during_changes": changes_after - changes_before - 1,
            "median_rss_mib": round(statistics.median(rss) / 1024, 2)}


def apply_commits(args, dsn, plan_dir):
    """What `tidemark apply` of one step commits with no waiter: the part to subtract."""
    write_plan(os.path.join(plan_dir, "plan.json"), 2)
    subprocess.check_call([args.tidemark, "apply", "-f", plan_dir, "--database", dsn, "--target",
                           "shop.0001_step"], stdout=subprocess.DEVNULL)
    time.sleep(STATS_FLUSH)
    before = waiter_commits(dsn)
    subprocess.check_call([args.tidemark, "apply", "-f", plan_dir, "--database", dsn, "--target",
                           "shop.0002_step"], stdout=subprocess.DEVNULL)
    time.sleep(STATS_FLUSH)
    return waiter_commits(dsn) - before - 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tidemark", default=os.path.join(ROOT, "build/bin/tidemark"))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()

    sandbox = tempfile.mkdtemp(prefix="tidemark-wait-bench-")
    plan_dir = tempfile.mkdtemp(prefix="tidemark-wait-plan-")
    env = dict(os.environ, PG_SANDBOX_MAX_CONNECTIONS=str(args.waiters + 50))
    server = subprocess.check_output([os.path.join(ROOT, "tools/pg-sandbox"), "start", sandbox],
                                     text=True, env=env).strip()
    results = {}
    try:
        for name in ("latency", "idle", "many", "baseline"):
            db = "wait_" + name
            psql(server, 'CREATE DATABASE "%s"' % db)
            dsn = server.replace("dbname=postgres", "dbname=" + db)
            if name == "latency":
                results[name] = latency(args, dsn, plan_dir)
            elif name == "idle":
                results[name] = idle(args, dsn)
            elif name == "many":
                results[name] = many(args, dsn, plan_dir)
            else:
                results["apply_commits_alone"] = apply_commits(args, dsn, plan_dir)
            print(name, json.dumps(results.get(name, results.get("apply_commits_alone"))), flush=True)
    finally:
        subprocess.call([os.path.join(ROOT, "tools/pg-sandbox"), "stop", sandbox])
        subprocess.call(["rm", "-rf", sandbox, plan_dir])
    many_result = results["many"]
    per_change = ((many_result["commits_during_changes"] -
                   many_result["changes"] * results["apply_commits_alone"]) /
                  (many_result["changes"] * many_result["waiters"]))
    results["many"]["rereads_per_waiter_per_change"] = round(per_change, 3)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
