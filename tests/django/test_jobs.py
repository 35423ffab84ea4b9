"""Python steps in a cluster: the controller (`tidemark operator`) with policy.pythonSteps: Run
and spec.runner.jobTemplate runs each one as a batch/v1 Job, against the test API server
(tidemark-test-apiserver, whose job runner runs a Job's container command on this machine),
the real kubectl, a real PostgreSQL and the test Django project (testproject.settings_runner:
stock.0003_fill_code back-fills thousands of rows in RunPython).
"""

import copy
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import support

SERVER = None
SETTINGS = support.RUNNER_SETTINGS
ROWS = 4000
SECRET = "s3cr3t-job-token"
ENV_SECRET = "s3cr3t-env-from-key"  # given to the container by envFrom: secretRef
KUBECTL = os.environ.get("KUBECTL", "kubectl")  # tests/CMakeLists.txt names the real one
APISERVER = os.path.join(support.BINARY_DIR, "bin", "tidemark-test-apiserver")
CRD = os.path.join(support.SOURCE_DIR, "crds", "migrationplans.tidemark.dev.yaml")
FILL = "stock.0003_fill_code"
STARTED = ("runner-start", "runner", False)  # the history's claim while the step's Job runs


def setUpModule():
    global SERVER
    SERVER = support.Server()


def tearDownModule():
    SERVER.stop()


def eventually(condition, limit=90):
    deadline = time.time() + limit
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("not reached within %d s" % limit)


def history(dbname, app, name):
    return SERVER.query(dbname, "SELECT action, run_by, duration_ms IS NOT NULL FROM tidemark_history "
                                "WHERE app = '%s' AND name = '%s' ORDER BY id" % (app, name))


class JobsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        SERVER.create_database("export")
        result = support.manage(SERVER.dsn("export"), "tidemark_export", "--name", "shop", "--python-steps", "Run",
                                "--runner-image", "shop:1.4", env=SETTINGS)
        import yaml
        cls.documents = list(yaml.safe_load_all(result.stdout))

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tidemark-django-jobs-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.apiserver = subprocess.Popen([APISERVER, "--crd", CRD, "--kubeconfig-out", self.kubeconfig],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.apiserver.stdout.readline()  # "listening on ...": the kubeconfig is written
        self.operators = []

    def tearDown(self):
        for operator in self.operators:
            if operator.poll() is None:
                operator.kill()
            operator.wait()
        self.apiserver.send_signal(signal.SIGTERM)  # kills what its job runner still runs
        self.apiserver.wait(timeout=60)
        self.apiserver.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def kubectl(self, *args, input=None, check=True):
        result = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir",
                                 os.path.join(self.dir, "cache")] + list(args),
                                capture_output=True, text=True, input=input)
        if check and result.returncode != 0:
            raise AssertionError("kubectl %s: %s%s" % (" ".join(args), result.stdout, result.stderr))
        return result

    def start_operator(self):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        with open(os.path.join(self.dir, "operator-%d.log" % len(self.operators)), "w") as log:
            operator = subprocess.Popen([support.TIDEMARK, "operator", "--kubeconfig", self.kubeconfig,
                                         "--metrics-addr", "127.0.0.1:0"], stdout=log, stderr=log, env=env)
        self.operators.append(operator)
        return operator

    def operator_logs(self):
        text = ""
        for i in range(len(self.operators)):
            with open(os.path.join(self.dir, "operator-%d.log" % i)) as log:
                text += log.read()
        return text

    def apply_plan(self, dbname, container=None, job_template=True, **runner):
        """The exported plan, its database and the runner's from Secrets, its Job's container
        run in the test project with the app's settings; CONTAINER and RUNNER change it, and
        without JOB_TEMPLATE, only spec.runner.command is left."""
        self.kubectl("create", "secret", "generic", "shop-db", "--from-literal=dsn=" + SERVER.dsn(dbname),
                     "--from-literal=url=" + SERVER.dsn(dbname), "--from-literal=token=" + SECRET)
        documents = copy.deepcopy(self.documents)
        spec = documents[0]["spec"]
        spec["database"] = {"dsnFrom": {"secretKeyRef": {"name": "shop-db", "key": "dsn"}}}
        spec["runner"].update(runner)
        app = spec["runner"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        app.update({
            "command": [support.PYTHON, "manage.py", "tidemark_step"],
            "workingDir": support.PROJECT_DIR,
            "env": app["env"] + [
                {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "url"}}},
                {"name": "PYTHONPATH", "value": os.pathsep.join(
                    [os.path.join(support.SOURCE_DIR, "tools", "django"), support.PROJECT_DIR])},
                {"name": "RUNNER_TOKEN", "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "token"}}},
            ]})
        app.update(container or {})
        if not job_template:
            del spec["runner"]["jobTemplate"]
            spec["runner"]["command"] = [support.PYTHON, "manage.py", "tidemark_step"]
        self.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))
        self.plan_file = os.path.join(self.dir, "plan.json")
        with open(self.plan_file, "w") as out:
            out.write("\n---\n".join(json.dumps(d) for d in documents))

    def jobs(self, *selector):
        listed = json.loads(self.kubectl("get", "jobs", "-o", "json", *selector).stdout)
        return listed["items"]

    def condition(self, type_):
        plan = json.loads(self.kubectl("get", "mplan", "shop", "-o", "json").stdout)
        for condition in plan.get("status", {}).get("conditions", []):
            if condition["type"] == type_:
                return condition
        return {}

    def wait_ready(self):
        waited = self.kubectl("wait", "--for=condition=Ready", "mplan/shop", "--timeout=180s", check=False)
        self.assertEqual(waited.returncode, 0, waited.stderr + self.operator_logs())

    def at_fill_code(self, name):
        """A database where stock.0003_fill_code is the next step, with ROWS items."""
        SERVER.create_database(name)
        support.manage(SERVER.dsn(name), "migrate", "stock", "0002", env=SETTINGS)
        support.seed_stock_items(SERVER, name, ROWS)
        return name

    def test_python_steps_converge_with_one_job_per_step(self):
        db = self.at_fill_code("converge")
        self.start_operator()
        self.apply_plan(db)
        self.wait_ready()
        django = self.at_fill_code("converge_django")
        support.manage(SERVER.dsn(django), "migrate", env=SETTINGS)
        self.assertEqual(SERVER.ledger(db), SERVER.ledger(django))
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM stock_item WHERE code IS NULL"), [(0,)])
        self.assertEqual(history(db, "stock", "0003_fill_code"), [STARTED, ("apply", "runner", True)])

        steps = self.jobs("-l", "tidemark.dev/direction=apply")
        self.assertIn(FILL, [job["metadata"]["annotations"]["tidemark.dev/step"] for job in steps])
        self.assertEqual(len(steps), len({job["metadata"]["annotations"]["tidemark.dev/step"] for job in steps}))
        fill = [job for job in steps if job["metadata"]["annotations"]["tidemark.dev/step"] == FILL][0]
        self.assertEqual(fill["spec"]["backoffLimit"], 0)
        self.assertEqual(fill["metadata"]["ownerReferences"][0]["kind"], "MigrationPlan")
        self.assertEqual(fill["spec"]["template"]["spec"]["containers"][0]["args"],
                         ["apply", "stock", "0003_fill_code"])
        self.assertLessEqual(len(fill["metadata"]["name"]), 63)
        # After the run that changed the ledger, one post-migrate Job created what Django's
        # post_migrate handlers make.
        self.assertEqual(len(self.jobs("-l", "tidemark.dev/direction=post-migrate")), 1)
        self.assertIn(("stock keepers",), SERVER.query(db, "SELECT name FROM auth_group"))
        listed = self.kubectl("get", "jobs").stdout
        self.assertIn(fill["metadata"]["name"], listed)
        logs = self.kubectl("logs", "job/" + fill["metadata"]["name"]).stdout
        self.assertIn("applied stock.0003_fill_code", logs)
        events = self.kubectl("get", "events", "-o", "json").stdout
        self.assertIn("JobCreated", events)
        self.assertIn("JobSucceeded", events)

        # A controller that stopped after writing the fill Job's history row and before
        # annotating the Job: the next one finds the Job unrecorded, and records nothing twice.
        self.assertEqual(fill["metadata"]["annotations"].get("tidemark.dev/recorded"), "true")
        for operator in self.operators:
            operator.kill()
            operator.wait()
        self.kubectl("annotate", "job", fill["metadata"]["name"], "tidemark.dev/recorded-")
        self.start_operator()
        eventually(lambda: json.loads(self.kubectl("get", "job", fill["metadata"]["name"], "-o", "json").stdout)
                   ["metadata"]["annotations"].get("tidemark.dev/recorded") == "true")
        self.wait_ready()
        self.assertEqual(history(db, "stock", "0003_fill_code"), [STARTED, ("apply", "runner", True)])
        self.assertEqual(SERVER.query(db, "SELECT action, runner_run_id FROM tidemark_history "
                                          "WHERE name = '0003_fill_code' ORDER BY id"),
                         [(action, "Job default/%s (uid %s)" % (fill["metadata"]["name"], fill["metadata"]["uid"]))
                          for action in ("runner-start", "apply")])

        # Deleting the plan deletes its Jobs (owner references) and their pods.
        self.kubectl("delete", "mplan", "shop")
        eventually(lambda: not self.jobs())
        self.assertEqual(json.loads(self.kubectl("get", "pods", "-o", "json").stdout)["items"], [])

    def test_a_restarted_controller_adopts_the_running_job(self):
        db = self.at_fill_code("adopt")
        first = self.start_operator()
        slow = ["sh", "-c", 'sleep 4; exec "$0" manage.py tidemark_step "$@"', support.PYTHON]
        self.apply_plan(db, container={"command": slow})
        eventually(lambda: [job for job in self.jobs() if job.get("status", {}).get("active")])
        # While the Job runs, `tidemark apply` by hand on the same database waits for it.
        claim = eventually(lambda: SERVER.query(db, "SELECT app, name, runner_run_id FROM tidemark_history "
                                                    "WHERE action = 'runner-start'"))
        rows = SERVER.query(db, "SELECT count(*) FROM tidemark_history")
        by_hand = support.run([support.TIDEMARK, "apply", "-f", self.plan_file, "--database", SERVER.dsn(db)],
                              check=False)
        self.assertEqual(by_hand.returncode, 1, by_hand.stdout + by_hand.stderr)
        self.assertIn("WaitingForLock: step %s.%s is being applied by spec.runner of plan default/shop "
                      "elsewhere: %s, since " % claim[0], by_hand.stderr)
        self.assertIn("no step starts on this ledger until its outcome is recorded", by_hand.stderr)
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM tidemark_history"), rows)
        first.kill()
        first.wait()
        self.start_operator()
        self.wait_ready()
        steps = [job["metadata"]["annotations"]["tidemark.dev/step"]
                 for job in self.jobs("-l", "tidemark.dev/direction=apply")]
        self.assertIn(FILL, steps)
        self.assertEqual(len(steps), len(set(steps)), steps)  # no step got a second Job
        self.assertEqual(history(db, "stock", "0003_fill_code"), [STARTED, ("apply", "runner", True)])
        self.assertEqual(SERVER.query(db, "SELECT app, name FROM tidemark_history WHERE action = 'apply' "
                                          "GROUP BY 1, 2 HAVING count(*) > 1"), [])
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM django_migrations WHERE app = 'stock' "
                                          "AND name = '0003_fill_code'"), [(1,)])

    def test_a_failed_job_stalls_the_plan_with_its_log_tail_and_no_secret(self):
        db = self.at_fill_code("failing")
        self.start_operator()
        # The fill step fails; the python steps before it run.
        failing = ["sh", "-c", 'if [ "$3" = 0003_fill_code ]; then echo "connecting with token $RUNNER_TOKEN"; '
                               'echo "api key $SHOP_API_KEY, dsn $DATABASE_URL"; '
                               'echo "boom: no such table" >&2; exit 4; fi; exec %s manage.py tidemark_step "$@"'
                   % support.PYTHON, "runner"]
        self.kubectl("create", "secret", "generic", "shop-env", "--from-literal=SHOP_API_KEY=" + ENV_SECRET)
        self.apply_plan(db, container={"command": failing, "envFrom": [{"secretRef": {"name": "shop-env"}}]})
        stalled = eventually(lambda: self.condition("Stalled").get("reason") == "RunnerFailed" and
                             self.condition("Stalled"))
        message = stalled["message"]
        self.assertIn(FILL, message)
        self.assertIn("BackoffLimitExceeded", message)
        self.assertIn("connecting with token ***", message)
        self.assertIn("api key ***, dsn ***", message)  # envFrom's values, and the whole DSN
        self.assertIn("boom: no such table", message)
        self.assertNotIn(("stock", "0003_fill_code"), SERVER.ledger(db))
        self.assertEqual(history(db, "stock", "0003_fill_code"), [STARTED, ("failure", "runner", True)])
        # Retried with back-off, it neither starts a second Job nor records the failure again.
        time.sleep(2)
        self.assertEqual(len(self.jobs("-l", "tidemark.dev/step=" + FILL)), 1)
        self.assertEqual(history(db, "stock", "0003_fill_code"), [STARTED, ("failure", "runner", True)])
        events = self.kubectl("get", "events", "-o", "json").stdout
        self.assertIn("JobFailed", events)
        status = self.kubectl("get", "mplan", "shop", "-o", "json").stdout
        for text in (status, events, self.operator_logs(),
                     str(SERVER.query(db, "SELECT error FROM tidemark_history"))):
            for secret in (SECRET, ENV_SECRET):
                self.assertNotIn(secret, text)

    def test_a_command_alone_is_refused_in_a_cluster(self):
        db = self.at_fill_code("command")
        self.start_operator()
        self.apply_plan(db, job_template=False)
        stalled = eventually(lambda: self.condition("Stalled").get("reason") == "InvalidSpec" and
                             self.condition("Stalled"))
        self.assertIn("spec.runner.command cannot run in a cluster", stalled["message"])
        self.assertIn("jobTemplate", stalled["message"])
        self.assertEqual(self.jobs(), [])


if __name__ == "__main__":
    unittest.main()
