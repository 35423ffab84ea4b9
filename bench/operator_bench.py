#!/usr/bin/python3
"""`tidemark operator` against the issue's targets: event-to-status latency, scale, memory, idle CPU.

Starts its own PostgreSQL sandbox (tools/pg-sandbox) with --databases databases, the test
Kubernetes API server (build/bin/tidemark-test-apiserver) and `tidemark operator`, and
stops every one of them at the end whatever happens. Objects are created and patched over
HTTP (http.client, a connection per request); kubectl only drives a sample of
the event-to-status changes (`kubectl apply`, as the issue phrases it).

  1. Small cluster (one Secret, one plan): a fresh operator; once the plan is Ready and
     10 s have passed, its RSS ("idle RSS with one plan"). Then --changes no-op spec
     changes (spec.policy.lint toggled Warn <-> Off: generation bumps, desired state does
     not): for each, the time from the PATCH (or `kubectl apply`) returning to a watch on
     the plan seeing status.observedGeneration == the new generation.
  2. Scale cluster: --plans plans of 3 tiny steps each (one app per plan; the plans of a
     database share its django_migrations ledger and advisory lock, as the apps of one
     Django project do), spread over --databases databases (one Secret each), all
     created before the operator starts; the time from the operator's start to every plan
     Ready (followed by a watch), the operator's peak and steady RSS, and the CPU seconds it
     uses during --idle-seconds of idleness after convergence. Then the baseline: psql runs
     the same steps and ledger rows on fresh databases, two sessions at a time; the ratio
     of the two times, and of PostgreSQL's CPU in each, is the figure to read.

  3. With --restart: a fresh operator over the converged plans, until its
     tidemark_reconcile_total counts every plan (nothing runs; every ledger is read).

    bench/operator_bench.py [--plans 10000] [--databases 100] [--changes 1000]
                            [--kubectl-changes 20] [--workers 4] [--restart] [--json out.json]

The full sizes take about 2 minutes (15 s more with --restart); bench/README.md has the figures.
"""

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import engine_vs_psql  # beside this script: the psql baseline's script

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"
PLANS_PATH = "/apis/tidemark.dev/v1alpha1/namespaces/default/migrationplans"
SECRETS_PATH = "/api/v1/namespaces/default/secrets"
TARGETS = {
    "event_to_status_p99_ms": None,  # the issue gives no figure: reported, not judged
    "sync_seconds": 30.0,
    "steady_rss_mib": 64.0,
    "idle_one_plan_rss_mib": 10.0,
}
MAX_TOTAL_SECONDS = 900  # a hard bound on the whole run, whatever the sizes


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def check(self, what):
        if self.left() <= 0:
            raise SystemExit("out of time while " + what)


DEADLINE = Deadline(MAX_TOTAL_SECONDS)


# ---------------------------------------------------------------------------- processes
class Processes:
    """Every process the benchmark starts, each in its own process group, killed at the end."""

    def __init__(self, work_dir):
        self.work_dir = work_dir
        self.children = []
        self.sandboxes = []

    def start(self, name, argv):
        log = open(os.path.join(self.work_dir, name + ".log"), "wb")
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        self.children.append(child)
        return child

    def stop(self, child):
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
        if child.stdout:
            child.stdout.close()

    def start_postgres(self, databases, parent):
        directory = tempfile.mkdtemp(prefix="tidemark-opbench-pg-", dir=parent)
        os.chmod(directory, 0o755)  # the sandbox server runs as postgres
        self.sandboxes.append(directory)
        dsn = subprocess.run([os.path.join(SOURCE_DIR, "tools", "pg-sandbox"), "start", directory],
                             check=True, capture_output=True, text=True, timeout=120).stdout.strip()
        script = "".join("CREATE DATABASE bench_%03d;\n" % i for i in range(databases))
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", dsn], input=script, check=True,
                       capture_output=True, text=True, timeout=300)
        return dsn

    def close(self, keep=False):
        for child in reversed(self.children):
            self.stop(child)
        for directory in self.sandboxes:
            subprocess.run([os.path.join(SOURCE_DIR, "tools", "pg-sandbox"), "stop", directory],
                           capture_output=True, timeout=120)
            if not keep:
                shutil.rmtree(directory, ignore_errors=True)


def default_pg_dir():
    """tmpfs when there is one: the sandbox already runs with fsync=off, and on a disk the
    figures would include the file system's cost of creating a relation file per table
    (large on an ext4 without a journal, which skips every inode freed in the last minutes)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def file_system_of(path):
    """The type of the file system PATH is on, from /proc/mounts (the longest mount point)."""
    path, best, kind = os.path.realpath(path), "", "?"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best, kind = point, fields[2]
    return kind


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- API server
class Api:
    """JSON requests to the test API server."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, content_type="application/json"):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        # A fresh connection per request, as the operator's own client does: on a reused
        # one the test server's responses wait ~40 ms for the delayed ACK (no TCP_NODELAY).
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, data, headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, response.status, payload[:300]))
        return json.loads(payload)


def start_api_server(processes, args, name):
    kubeconfig = os.path.join(processes.work_dir, name + ".kubeconfig")
    child = processes.start(name, [args.apiserver, "--crd",
                                   os.path.join(SOURCE_DIR, "crds", "migrationplans.tidemark.dev.yaml"),
                                   "--kubeconfig-out", kubeconfig])
    line = child.stdout.readline().decode()
    if "listening on http://127.0.0.1:" not in line:
        raise SystemExit("the test API server did not start: %r" % line)
    return int(line.rsplit(":", 1)[1]), kubeconfig


def secret(name, dsn):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {"dsn": base64.b64encode(dsn.encode()).decode()}}


def plan(name, index, secret_name, lint="Warn"):
    app = "p%05d" % index
    steps = []
    for k, suffix in enumerate(("a", "b", "c")):
        step = {"app": app, "name": "%04d" % (k + 1),
                "forward": 'CREATE TABLE IF NOT EXISTS "%s_%s" (id int)' % (app, suffix),
                "backward": 'DROP TABLE IF EXISTS "%s_%s"' % (app, suffix)}
        if k:
            step["dependencies"] = ["%s.%04d" % (app, k)]
        steps.append(step)
    return {"apiVersion": "tidemark.dev/v1alpha1", "kind": "MigrationPlan",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"database": {"dsnFrom": {"secretKeyRef": {"name": secret_name, "key": "dsn"}}},
                     "policy": {"lint": lint},
                     "migrations": steps}}


def is_ready(obj):
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def create_all(port, path, objects, threads=4):
    """POSTs OBJECTS from THREADS threads; returns the seconds it took."""
    started = time.monotonic()
    errors = []

    def work(part):
        api = Api(port)
        try:
            for obj in part:
                api.request("POST", path, obj)
        except Exception as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(objects[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise SystemExit("creating objects failed: %s" % errors[0])
    return time.monotonic() - started


class PlanWatch:
    """A watch on MigrationPlans from a resourceVersion; events go to a queue with their time."""

    def __init__(self, port, resource_version, field_selector=None):
        self.events = queue.Queue()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=None)
        params = {"watch": "1", "resourceVersion": resource_version, "timeoutSeconds": "900"}
        if field_selector:
            params["fieldSelector"] = field_selector
        self.connection.request("GET", PLANS_PATH + "?" + urllib.parse.urlencode(params),
                                headers={"Accept": "application/json"})
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            raise SystemExit("watch refused: %d" % self.response.status)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                self.events.put((time.monotonic(), json.loads(line)))
        except Exception:  # closed under it (close()), or a broken stream: the end either way
            pass
        self.events.put((time.monotonic(), None))  # the stream ended

    def close(self):
        try:
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


# ---------------------------------------------------------------------------- the operator
def start_operator(processes, args, kubeconfig, name):
    metrics_port = free_port()
    child = processes.start(name, [args.tidemark, "operator", "--kubeconfig", kubeconfig,
                                   "--metrics-addr", "127.0.0.1:%d" % metrics_port,
                                   "--workers", str(args.workers),
                                   "--db-idle-sessions", str(args.db_idle_sessions),
                                   "--log-level", "warn"])
    return child, metrics_port


def wait_readyz(child, metrics_port, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if child.poll() is not None:
            raise SystemExit("the operator exited with %d" % child.returncode)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit("the operator never became ready")


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kib = lambda key: int(fields[key].split()[0])
    return {"rss_mib": kib("VmRSS") / 1024.0, "hwm_mib": kib("VmHWM") / 1024.0,
            "anon_mib": kib("RssAnon") / 1024.0, "file_mib": kib("RssFile") / 1024.0,
            "threads": int(fields["Threads"])}


def cpu_seconds(pid, children=False):
    """utime + stime of PID (and, with CHILDREN, of the children it has waited for)."""
    with open("/proc/%d/stat" % pid) as f:
        after_name = f.read().rsplit(")", 1)[1].split()
    # Fields 14-17 (utime, stime, cutime, cstime) are 12-15 after the name and state.
    ticks = sum(int(x) for x in after_name[11:15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(processes):
    """The sandbox server's CPU: the postmaster, its exited backends and the live ones."""
    with open(os.path.join(processes.sandboxes[0], "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    total = cpu_seconds(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                        total += cpu_seconds(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return total


def postgres_sessions(dsn):
    """Sessions the server has started, over all databases (pg_stat_database.sessions)."""
    return int(subprocess.run(["psql", "-XAtc", "SELECT sum(sessions) FROM pg_stat_database", dsn],
                              check=True, capture_output=True, text=True, timeout=60).stdout)


def wait_all_ready(port, names, list_rv_watch_from, timeout):
    """Follows a watch from LIST_RV_WATCH_FROM until every plan in NAMES is Ready.

    Returns the monotonic time the last one became Ready. Re-lists if the watch ends."""
    pending = set(names)
    end = time.monotonic() + timeout
    resource_version = list_rv_watch_from
    while pending:
        if time.monotonic() > end:
            raise SystemExit("%d plans not Ready after %.0f s" % (len(pending), timeout))
        if resource_version is None:
            resource_version, ready = list_ready(port)
            pending -= ready
            last = time.monotonic()
            if not pending:
                return last
        watch = PlanWatch(port, resource_version)
        try:
            while pending and time.monotonic() < end:
                try:
                    at, event = watch.events.get(timeout=max(0.1, end - time.monotonic()))
                except queue.Empty:
                    break
                if event is None or event.get("type") == "ERROR":
                    resource_version = None  # expired or ended: list again
                    break
                obj = event["object"]
                resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] != "DELETED" and is_ready(obj):
                    name = obj["metadata"]["name"]
                    if name in pending:
                        pending.discard(name)
                        last = at
        finally:
            watch.close()
    return last


def list_ready(port):
    """Pages through every plan (limit/continue); returns (list resourceVersion, Ready names)."""
    api = Api(port)
    ready, token = set(), ""
    for _ in range(10000):
        page = api.request("GET", PLANS_PATH + "?limit=500" +
                           ("&continue=" + urllib.parse.quote(token) if token else ""))
        ready.update(o["metadata"]["name"] for o in page["items"] if is_ready(o))
        token = page["metadata"].get("continue", "")
        if not token:
            return page["metadata"]["resourceVersion"], ready
    raise SystemExit("the plan list never ended")


# ---------------------------------------------------------------------------- phases
def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))]


def small_cluster(processes, args, dsn, results):
    port, kubeconfig = start_api_server(processes, args, "apiserver-small")
    api = Api(port)
    api.request("POST", SECRETS_PATH, secret("db-000", dsn))
    created = api.request("POST", PLANS_PATH, plan("bench", 0, "db-000"))
    operator, metrics_port = start_operator(processes, args, kubeconfig, "operator-small")
    wait_all_ready(port, ["bench"], created["metadata"]["resourceVersion"], timeout=120)
    time.sleep(10)
    idle = proc_status(operator.pid)
    results["idle_one_plan_rss_mib"] = idle["rss_mib"]
    results["idle_one_plan_anon_mib"] = idle["anon_mib"]
    results["idle_one_plan_file_mib"] = idle["file_mib"]

    # No-op spec changes: the lint policy toggles; the steps and targets stay. Two clocks
    # per change: from sending the change (the PATCH request, or starting `kubectl apply`)
    # to the watch seeing the status for the new generation ("request"); and from the
    # watch seeing the spec change to it seeing that status ("watch"), the controller's
    # share: what a client watching the plan waits for.
    latencies = {"http": {"request": [], "watch": []}, "kubectl": {"request": [], "watch": []}}
    current = api.request("GET", PLANS_PATH + "/bench")
    watch = PlanWatch(port, current["metadata"]["resourceVersion"], "metadata.name=bench")
    manifest = os.path.join(processes.work_dir, "plan.json")
    try:
        for i in range(args.changes + args.kubectl_changes):
            DEADLINE.check("changing the plan")
            lint = "Off" if i % 2 == 0 else "Warn"
            via = "kubectl" if i >= args.changes else "http"
            sent = time.monotonic()
            if via == "http":
                api.request("PATCH", PLANS_PATH + "/bench", {"spec": {"policy": {"lint": lint}}},
                            "application/merge-patch+json")
            else:
                with open(manifest, "w") as f:
                    json.dump(plan("bench", 0, "db-000", lint), f)
                subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir",
                                os.path.join(processes.work_dir, "kubectl-cache"), "apply", "-f",
                                manifest], check=True, capture_output=True, timeout=60)
            generation = spec_seen = status_seen = None
            end = time.monotonic() + 30
            while status_seen is None:
                left = end - time.monotonic()
                if left <= 0:
                    raise SystemExit("change %d: no status for the new generation in 30 s" % i)
                try:
                    at, event = watch.events.get(timeout=left)
                except queue.Empty:
                    continue
                if event is None:
                    raise SystemExit("the watch on the plan ended")
                obj = event["object"]
                if generation is None:
                    if obj["spec"]["policy"]["lint"] != lint:
                        continue  # an event from before this change
                    generation, spec_seen = obj["metadata"]["generation"], at
                observed = (obj.get("status") or {}).get("observedGeneration")
                if observed == generation and obj["metadata"]["generation"] == generation:
                    status_seen = at
            latencies[via]["request"].append((status_seen - sent) * 1000.0)
            latencies[via]["watch"].append((status_seen - spec_seen) * 1000.0)
    finally:
        watch.close()
    results["event_to_status_ms"] = {
        via: {clock: {"count": len(v), "p50": percentile(v, 0.50), "p99": percentile(v, 0.99),
                      "max": max(v)} for clock, v in clocks.items()}
        for via, clocks in latencies.items() if clocks["request"]}
    processes.stop(operator)


def scale_cluster(processes, args, base_dsn, results):
    port, kubeconfig = start_api_server(processes, args, "apiserver-scale")
    secrets = [secret("db-%03d" % d, base_dsn.replace("dbname=postgres", "dbname=bench_%03d" % d))
               for d in range(args.databases)]
    plans = [plan("p-%05d" % i, i, "db-%03d" % (i % args.databases)) for i in range(args.plans)]
    create_all(port, SECRETS_PATH, secrets)
    results["create_seconds"] = create_all(port, PLANS_PATH, plans)
    resource_version, _ = list_ready(port)
    server_pid = processes.children[-1].pid
    cpu_at_start = {"apiserver": cpu_seconds(server_pid), "postgres": postgres_cpu_seconds(processes)}
    sessions_at_start = postgres_sessions(base_dsn)

    started = time.monotonic()
    operator, metrics_port = start_operator(processes, args, kubeconfig, "operator-scale")
    peak = {"hwm_mib": 0.0}
    sampling = threading.Event()

    def sample():  # VmHWM is the peak; sampled too so a crash still leaves a figure
        while not sampling.wait(0.5):
            try:
                peak["hwm_mib"] = max(peak["hwm_mib"], proc_status(operator.pid)["hwm_mib"])
            except (OSError, KeyError):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    synced = wait_readyz(operator, metrics_port, timeout=min(300, DEADLINE.left()))
    last_ready = wait_all_ready(port, [p["metadata"]["name"] for p in plans], resource_version,
                                timeout=min(args.scale_timeout, DEADLINE.left()))
    results["caches_synced_seconds"] = synced - started
    results["sync_seconds"] = last_ready - started
    results["plans_per_second"] = args.plans / results["sync_seconds"]
    results["cpu_to_converge_seconds"] = cpu_seconds(operator.pid)
    results["apiserver_cpu_to_converge_seconds"] = cpu_seconds(server_pid) - cpu_at_start["apiserver"]
    results["postgres_cpu_to_converge_seconds"] = (postgres_cpu_seconds(processes) -
                                                   cpu_at_start["postgres"])
    results["postgres_sessions_to_converge"] = postgres_sessions(base_dsn) - sessions_at_start - 1

    time.sleep(2)  # let the last status writes and events drain
    cpu_before = cpu_seconds(operator.pid)
    time.sleep(args.idle_seconds)
    results["idle_cpu_seconds"] = cpu_seconds(operator.pid) - cpu_before
    state = proc_status(operator.pid)
    sampling.set()
    sampler.join()
    results["steady_rss_mib"] = state["rss_mib"]
    results["steady_anon_mib"] = state["anon_mib"]
    results["peak_rss_mib"] = max(peak["hwm_mib"], state["hwm_mib"])
    results["threads"] = state["threads"]
    processes.stop(operator)
    psql_baseline(processes, args, base_dsn, plans, results)
    if args.restart:
        restart(processes, args, kubeconfig, server_pid, results)


def psql_baseline(processes, args, base_dsn, plans, results):
    """The same steps through psql on fresh databases, two sessions at a time (one per core):
    the script engine_vs_psql.py gives psql (BEGIN, the step's SQL, its django_migrations row,
    COMMIT: the least any tool must do). PostgreSQL's CPU for it is the share of the scale
    run that no controller can save."""
    steps = [[] for _ in range(args.databases)]
    for i, item in enumerate(plans):
        steps[i % args.databases] += item["spec"]["migrations"]
    scripts = [engine_vs_psql.psql_text(database_steps) for database_steps in steps]
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", base_dsn],
                   input="".join("CREATE DATABASE psql_%03d;\n" % d for d in range(args.databases)),
                   check=True, capture_output=True, text=True, timeout=300)

    def run(database):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        base_dsn.replace("dbname=postgres", "dbname=psql_%03d" % database)],
                       input=scripts[database], check=True, capture_output=True,
                       text=True, timeout=max(60, DEADLINE.left()))

    cpu_before = postgres_cpu_seconds(processes)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(run, range(args.databases)))
    results["psql_seconds"] = time.monotonic() - started
    results["psql_postgres_cpu_seconds"] = postgres_cpu_seconds(processes) - cpu_before


def reconciles_done(metrics_port):
    """The operator's tidemark_reconcile_total, all results summed."""
    connection = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=10)
    connection.request("GET", "/metrics")
    total = 0.0
    for line in connection.getresponse().read().decode().splitlines():
        if line.startswith("tidemark_reconcile_total{"):
            total += float(line.rsplit(" ", 1)[1])
    connection.close()
    return total


def restart(processes, args, kubeconfig, server_pid, results):
    """A fresh operator over the converged cluster: every plan is checked once, nothing runs.

    Their status does not change, so the operator's reconcile counter tells when it is done."""
    started = time.monotonic()
    cpu_before = {"apiserver": cpu_seconds(server_pid), "postgres": postgres_cpu_seconds(processes)}
    operator, metrics_port = start_operator(processes, args, kubeconfig, "operator-restart")
    wait_readyz(operator, metrics_port, timeout=min(300, DEADLINE.left()))
    end = time.monotonic() + min(args.scale_timeout, DEADLINE.left())
    while reconciles_done(metrics_port) < args.plans:
        if time.monotonic() > end:
            raise SystemExit("the restarted operator did not check every plan in time")
        time.sleep(0.2)
    results["restart_seconds"] = time.monotonic() - started
    results["restart_cpu_seconds"] = {
        "operator": cpu_seconds(operator.pid),
        "apiserver": cpu_seconds(server_pid) - cpu_before["apiserver"],
        "postgres": postgres_cpu_seconds(processes) - cpu_before["postgres"]}
    processes.stop(operator)


# ---------------------------------------------------------------------------- main
def report(args, results):
    rows = []
    e2s = results.get("event_to_status_ms", {})
    for via, label in (("http", "merge PATCH"), ("kubectl", "kubectl apply")):
        for clock, start in (("request", "sent"), ("watch", "seen on a watch")):
            if via in e2s:
                v = e2s[via][clock]
                rows.append(("event to status, %s %s -> status seen (n=%d): p50/p99/max"
                             % (label, start, v["count"]),
                             "%.1f / %.1f / %.1f ms" % (v["p50"], v["p99"], v["max"]), ""))
    if "sync_seconds" in results:
        rows += [
            ("scale: %d plans over %d databases, operator start to all Ready" % (args.plans, args.databases),
             "%.1f s" % results["sync_seconds"], ratio(results["sync_seconds"], 30.0, args, "s")),
            ("  of which caches synced (/readyz)", "%.2f s" % results["caches_synced_seconds"], ""),
            ("  plans per second", "%.0f" % results["plans_per_second"], ""),
            ("  CPU to converge: operator / test API server / PostgreSQL",
             "%.1f / %.1f / %.1f s" % (results["cpu_to_converge_seconds"],
                                       results["apiserver_cpu_to_converge_seconds"],
                                       results["postgres_cpu_to_converge_seconds"]), ""),
            ("  PostgreSQL sessions opened meanwhile", "%d" % results["postgres_sessions_to_converge"], ""),
            ("  baseline: psql running the same steps, 2 sessions at a time; PostgreSQL CPU",
             "%.1f s; %.1f s" % (results["psql_seconds"], results["psql_postgres_cpu_seconds"]),
             "tidemark took %.2fx psql's time, its PostgreSQL CPU %.2fx psql's" % (
                 results["sync_seconds"] / results["psql_seconds"],
                 results["postgres_cpu_to_converge_seconds"] / results["psql_postgres_cpu_seconds"])),
            ("operator peak RSS (VmHWM)", "%.1f MiB" % results["peak_rss_mib"], ""),
            ("operator steady RSS (VmRSS, after %d s idle; anonymous part)" % args.idle_seconds,
             "%.1f MiB (%.1f)" % (results["steady_rss_mib"], results["steady_anon_mib"]), ratio(results["steady_rss_mib"], 64.0, args, "MiB")),
            ("operator CPU during %d s idle" % args.idle_seconds,
             "%.3f s (%.2f%% of a core)" % (results["idle_cpu_seconds"],
                                            100.0 * results["idle_cpu_seconds"] / args.idle_seconds), ""),
        ]
    if "restart_seconds" in results:
        cpu = results["restart_cpu_seconds"]
        rows += [
            ("restart over the %d Ready plans: start to every plan checked" % args.plans,
             "%.1f s" % results["restart_seconds"], ratio(results["restart_seconds"], 30.0, args, "s")),
            ("  CPU: operator / test API server / PostgreSQL",
             "%.1f / %.1f / %.1f s" % (cpu["operator"], cpu["apiserver"], cpu["postgres"]), ""),
        ]
    if "idle_one_plan_rss_mib" in results:
        rows.append(("idle RSS, one Ready plan, after 10 s (anonymous / file-backed)",
                     "%.1f MiB (%.1f / %.1f)" % (results["idle_one_plan_rss_mib"],
                                                 results["idle_one_plan_anon_mib"],
                                                 results["idle_one_plan_file_mib"]),
                     ratio(results["idle_one_plan_rss_mib"], 10.0, args, "MiB")))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    for name, value, target in rows:
        print("%-*s  %-*s  %s" % (width, name, value_width, value, target))


def ratio(value, target, args, unit):
    return "%.2fx the target (< %g %s)" % (value / target, target, unit)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=10000)
    parser.add_argument("--databases", type=int, default=100)
    parser.add_argument("--changes", type=int, default=1000, help="no-op changes by HTTP PATCH")
    parser.add_argument("--kubectl-changes", type=int, default=20, help="more by kubectl apply")
    parser.add_argument("--workers", type=int, default=4, help="the operator's --workers")
    parser.add_argument("--db-idle-sessions", type=int,
                        help="the operator's --db-idle-sessions (default: one per database)")
    parser.add_argument("--idle-seconds", type=int, default=30)
    parser.add_argument("--scale-timeout", type=int, default=420)
    parser.add_argument("--restart", action="store_true",
                        help="then restart the operator over the converged plans (about 2 min more)")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--tidemark", default=os.path.join(SOURCE_DIR, "build", "bin", "tidemark"))
    parser.add_argument("--apiserver",
                        default=os.path.join(SOURCE_DIR, "build", "bin", "tidemark-test-apiserver"))
    parser.add_argument("--pg-dir", default=default_pg_dir(),
                        help="where PostgreSQL's data lives (default: tmpfs /dev/shm if present)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--json", help="Also write the raw numbers here.")
    args = parser.parse_args()
    args.databases = max(1, min(args.databases, args.plans if not args.skip_scale else args.databases))
    if args.db_idle_sessions is None:
        args.db_idle_sessions = max(16, args.databases)
    for program in (args.tidemark, args.apiserver):
        if not os.access(program, os.X_OK):
            raise SystemExit("no program at %s: build it first" % program)
    if args.kubectl_changes and not os.access(KUBECTL, os.X_OK):
        raise SystemExit("no kubectl at %s" % KUBECTL)

    work_dir = tempfile.mkdtemp(prefix="tidemark-opbench-")
    os.chmod(work_dir, 0o755)  # the sandbox server runs as postgres
    processes = Processes(work_dir)
    results = {}
    try:
        dsn = processes.start_postgres(args.databases, args.pg_dir or work_dir)
        if not args.skip_small:
            small_cluster(processes, args, dsn, results)
        if not args.skip_scale:
            scale_cluster(processes, args, dsn, results)
    finally:
        processes.close(keep=args.keep)
        if args.keep:
            print("logs in", work_dir, "and", " ".join(processes.sandboxes))
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    pg_dir = args.pg_dir or work_dir
    print("date %s, %d CPUs, load average at the end %s, PostgreSQL's data on %s (%s)" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
        " ".join("%.1f" % x for x in os.getloadavg()), pg_dir, file_system_of(pg_dir)))
    report(args, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
