"""Python steps run by the app's own code: `tidemark apply` with policy.pythonSteps: Run and a
spec.runner that runs `manage.py tidemark_step`, on a real PostgreSQL, against `manage.py
migrate` on a twin database. The project runs with testproject.settings_runner (the stock
app: a column added, back-filled by RunPython on thousands of rows, then made NOT NULL).
"""

import copy
import os
import shutil
import tempfile
import unittest

import support

SERVER = None
SETTINGS = support.RUNNER_SETTINGS
ROWS = 4000
SECRET = "s3cr3t-runner-token"
FILE_SECRET = "s3cr3t-from-a-secret-document"  # a Secret beside the plan, given by secretKeyRef


def setUpModule():
    global SERVER
    SERVER = support.Server()


def tearDownModule():
    SERVER.stop()


def seed_items(dbname):
    support.seed_stock_items(SERVER, dbname, ROWS)


def items(dbname):
    return SERVER.query(dbname, "SELECT id, name, quantity, code, counted FROM stock_item ORDER BY id")


def signal_rows(dbname):
    return (SERVER.query(dbname, "SELECT app_label, model FROM django_content_type ORDER BY 1, 2"),
            SERVER.query(dbname, "SELECT ct.app_label, p.codename FROM auth_permission p JOIN django_content_type ct "
                                 "ON ct.id = p.content_type_id ORDER BY 1, 2"),
            SERVER.query(dbname, "SELECT g.name, p.codename FROM auth_group g JOIN auth_group_permissions gp "
                                 "ON gp.group_id = g.id JOIN auth_permission p ON p.id = gp.permission_id ORDER BY 1, 2"))


def history(dbname, app, name):
    return SERVER.query(dbname, "SELECT action, run_by, duration_ms IS NOT NULL FROM tidemark_history "
                                "WHERE app = '%s' AND name = '%s' ORDER BY id" % (app, name))


class RunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tidemark-django-runner-")
        SERVER.create_database("export")
        result = support.manage(SERVER.dsn("export"), "tidemark_export", "--name", "shop", "--python-steps", "Run",
                                "--runner-command", "%s manage.py tidemark_step" % support.PYTHON, env=SETTINGS)
        import yaml
        cls.documents = list(yaml.safe_load_all(result.stdout))
        runner = cls.documents[0]["spec"]["runner"]
        assert runner["command"] == [support.PYTHON, "manage.py", "tidemark_step"], runner
        assert runner["env"] == [{"name": "DJANGO_SETTINGS_MODULE", "value": "testproject.settings_runner"}]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def plan(self, name, runner=None, revert=False, **policy):
        """The exported plan with the runner's workingDir and env set for the test project:
        its database from TIDEMARK_TEST_RUNNER_DSN (a source, so a secret), plus RUNNER."""
        documents = copy.deepcopy(self.documents)
        spec = documents[0]["spec"]
        spec["runner"].update({
            "workingDir": support.PROJECT_DIR,
            "env": spec["runner"]["env"] + [
                {"name": "DATABASE_URL", "valueFrom": {"env": "TIDEMARK_TEST_RUNNER_DSN"}},
                {"name": "PYTHONPATH", "value": os.pathsep.join(
                    [os.path.join(support.SOURCE_DIR, "tools", "django"), support.PROJECT_DIR])},
                {"name": "RUNNER_TOKEN", "valueFrom": {"env": "TIDEMARK_TEST_TOKEN"}},
            ]})
        spec["runner"].update(runner or {})
        spec["policy"].update(policy)
        if revert:
            spec["policy"]["revert"] = "Allow"
        path = os.path.join(self.dir, name + ".yaml")
        support.write_yaml(path, documents)
        return path

    def django(self, dbname, *args, check=True):
        """manage.py ARGS of the test project (with stock) against DBNAME."""
        return support.manage(SERVER.dsn(dbname), *args, check=check, env=SETTINGS)

    def apply(self, plan, dbname, *args, runner_db=None, expect=0):
        env = dict(os.environ, TIDEMARK_TEST_RUNNER_DSN=SERVER.dsn(runner_db or dbname), TIDEMARK_TEST_TOKEN=SECRET)
        env.pop("DATABASE_URL", None)
        result = support.run([support.TIDEMARK, "apply", "-f", plan, "--database", SERVER.dsn(dbname)] + list(args),
                             env=env, check=False)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, expect, output)
        self.assertNotIn(SECRET, output)
        return output

    def twin(self, name):
        """A database at stock.0001 with ROWS items, everything else applied by Django."""
        SERVER.create_database(name)
        self.django(name, "migrate", "stock", "0001")
        seed_items(name)
        return name

    def test_expand_backfill_contract_equals_migrate(self):
        plan = self.plan("run")
        SERVER.create_database("by_tidemark")
        self.apply(plan, "by_tidemark", "--target", "stock.0001_initial")
        seed_items("by_tidemark")
        output = self.apply(plan, "by_tidemark")
        self.assertIn("Applying stock.0003_fill_code... OK", output)
        self.assertIn("run by spec.runner", output)
        django = self.twin("by_django")
        self.django(django, "migrate")
        self.assertEqual(SERVER.schema("by_tidemark"), SERVER.schema(django))
        self.assertEqual(SERVER.ledger("by_tidemark"), SERVER.ledger(django))
        self.assertEqual(items("by_tidemark"), items(django))
        self.assertEqual(SERVER.query("by_tidemark", "SELECT count(*) FROM stock_item WHERE code IS NULL"), [(0,)])
        self.assertEqual(signal_rows("by_tidemark"), signal_rows(django))
        self.assertIn(("stock keepers", "add_item"), signal_rows("by_tidemark")[2])
        self.assertEqual(history("by_tidemark", "stock", "0003_fill_code"), [("apply", "runner", True)])
        self.assertEqual(history("by_tidemark", "stock", "0004_code_not_null"), [("apply", None, True)])
        self.assertEqual(self.django("by_tidemark", "migrate", "--check", check=False).returncode, 0)

    def test_post_migrate_false_creates_no_signal_rows(self):
        plan = self.plan("no_post_migrate", runner={"postMigrate": False})
        SERVER.create_database("quiet")
        self.apply(plan, "quiet")
        self.assertEqual(signal_rows("quiet"), ([], [], []))
        self.assertEqual(self.django("quiet", "migrate", "--check", check=False).returncode, 0)

    def test_a_failed_post_migrate_runs_again_on_the_next_apply(self):
        # The run ends in a python step (stock.0005), which carries the post-migrate: the
        # step done, post_migrate broken (exit 4); a post-migrate alone fails too.
        failing = ["sh", "-c", 'if [ "$1" = post-migrate ]; then echo "signal handlers broke" >&2; exit 6; fi; '
                               'if [ "$4" = --post-migrate ]; then "$0" manage.py tidemark_step "$1" "$2" "$3" || exit; '
                               'echo "signal handlers broke" >&2; exit 4; fi; '
                               'exec "$0" manage.py tidemark_step "$@"', support.PYTHON]
        SERVER.create_database("post_migrate_retried")
        output = self.apply(self.plan("post_migrate_fails", runner={"command": failing}), "post_migrate_retried",
                            expect=1)
        self.assertIn("RunnerFailed", output)
        self.assertIn("the steps were applied, but the runner's post-migrate exited with code 4", output)
        self.assertIn("signal handlers broke", output)
        self.assertIn("tidemark runs it again on its next run", output)
        self.assertEqual(signal_rows("post_migrate_retried"), ([], [], []))
        # Nothing is pending, but the post-migrate is owed: the next apply runs it.
        output = self.apply(self.plan("run"), "post_migrate_retried", "-o", "json")
        self.assertIn('"UpToDate"', output)
        self.assertIn("post-migrate runs again: the last one failed after its steps were applied (1 failure)",
                      output)
        django = self.twin("post_migrate_django")
        self.django(django, "migrate")
        self.assertEqual(signal_rows("post_migrate_retried"), signal_rows(django))
        self.assertEqual(history("post_migrate_retried", "", "post-migrate"),
                         [("failure", "runner", True), ("apply", "runner", True)])
        # Then it is done: no third run.
        self.assertNotIn("post-migrate", self.apply(self.plan("run"), "post_migrate_retried", "-o", "json"))
        self.assertEqual(len(history("post_migrate_retried", "", "post-migrate")), 2)

    def test_a_run_ending_in_a_python_step_emits_post_migrate_from_that_process(self):
        calls = os.path.join(self.dir, "carried-calls")
        logging = ["sh", "-c", 'echo "$*" >> "%s"; exec "$0" manage.py tidemark_step "$@"' % calls, support.PYTHON]
        db, django = self.twin("carried"), self.twin("carried_django")
        for name in (db, django):
            self.migrate_all_but_stock(name)
        # What post_migrate writes comes back only if the run emits it.
        SERVER.query(db, "DELETE FROM auth_group_permissions; DELETE FROM auth_group; "
                         "DELETE FROM auth_permission; DELETE FROM django_content_type")
        self.apply(self.plan("carried", runner={"command": logging}), db, "--target", "stock.0003_fill_code")
        with open(calls, encoding="utf-8") as f:
            self.assertEqual(f.read().splitlines(), ["apply stock 0003_fill_code --post-migrate"])
        self.django(django, "migrate", "stock", "0003_fill_code")
        self.assertEqual(signal_rows(db), signal_rows(django))
        self.assertIn(("stock keepers", "add_item"), signal_rows(db)[2])
        codes = "SELECT id, code FROM stock_item ORDER BY id"  # stock_item as of 0003
        self.assertEqual(SERVER.query(db, codes), SERVER.query(django, codes))
        self.assertEqual(history(db, "", "post-migrate"), [("apply", "runner", True)])

    def migrate_all_but_stock(self, dbname):
        listed = self.django(dbname, "showmigrations", "--list").stdout.splitlines()
        for app in [line for line in listed if line and not line[0].isspace()]:
            if app != "stock":
                self.django(dbname, "migrate", app)

    def test_revert_runs_reverse_code_and_refuses_irreversible(self):
        plan = self.plan("revert", revert=True)
        db = self.twin("revert")
        self.django(db, "migrate")
        output = self.apply(plan, db, "--target", "stock.0004_code_not_null", expect=1)
        self.assertIn("Irreversible", output)
        self.assertIn("stock.0005_count_items", output)
        SERVER.create_database("revert_reversible")
        self.django("revert_reversible", "migrate", "stock", "0001")
        seed_items("revert_reversible")
        self.django("revert_reversible", "migrate", "stock", "0004")
        self.apply(plan, "revert_reversible", "--target", "stock.0002_item_code")
        self.assertEqual(SERVER.query("revert_reversible", "SELECT count(*) FROM stock_item WHERE code IS NOT NULL"),
                         [(0,)])
        self.assertEqual([n for a, n in SERVER.ledger("revert_reversible") if a == "stock"],
                         ["0001_initial", "0002_item_code"])
        self.assertEqual(history("revert_reversible", "stock", "0003_fill_code"), [("revert", "runner", True)])

    def assertRunnerFailed(self, output, *texts):
        self.assertIn("RunnerFailed", output)
        self.assertIn("stock.0003_fill_code", output)
        for text in texts:
            self.assertIn(text, output)

    def assertAppliedOnce(self, dbname):
        self.assertEqual(SERVER.query(dbname, "SELECT count(*) FROM django_migrations WHERE app = 'stock' "
                                              "AND name = '0003_fill_code'"), [(1,)])
        self.assertEqual([row for row in history(dbname, "stock", "0003_fill_code") if row[0] == "apply"],
                         [("apply", "runner", True)])
        self.assertEqual(SERVER.query(dbname, "SELECT count(*) FROM stock_item WHERE code IS NULL"), [(0,)])

    def at_fill_code(self, name):
        """A database where stock.0003_fill_code is the next step."""
        SERVER.create_database(name)
        self.apply(self.plan("run"), name, "--target", "stock.0001_initial")
        seed_items(name)
        self.apply(self.plan("run"), name, "--target", "stock.0002_item_code")
        return name

    def test_killed_runner_leaves_nothing_and_a_rerun_applies_once(self):
        db = self.at_fill_code("killed")
        # The back-fill pauses after its writes; the wrapper SIGKILLs it, then itself.
        killer = ["sh", "-c", 'TIDEMARK_TEST_BACKFILL_PAUSE=60 "$0" "$@" & child=$!; sleep 4; '
                              'kill -KILL $child; kill -KILL $$', support.PYTHON, "manage.py", "tidemark_step"]
        output = self.apply(self.plan("killer", runner={"command": killer}), db, expect=1)
        self.assertRunnerFailed(output, "was killed by signal 9")
        self.assertNotIn(("stock", "0003_fill_code"), SERVER.ledger(db))
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM stock_item WHERE code IS NOT NULL"), [(0,)])
        self.assertEqual(history(db, "stock", "0003_fill_code"), [("failure", "runner", True)])
        self.apply(self.plan("run"), db)
        self.assertAppliedOnce(db)

    def test_timeout_kills_the_runner(self):
        db = self.at_fill_code("timeout")
        slow = ["sh", "-c", 'TIDEMARK_TEST_BACKFILL_PAUSE=60 exec "$0" "$@"', support.PYTHON, "manage.py",
                "tidemark_step"]
        output = self.apply(self.plan("slow", runner={"command": slow, "timeout": "3s"}), db, expect=1)
        self.assertRunnerFailed(output, "timed out after 3s (spec.runner.timeout) and was killed")
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM stock_item WHERE code IS NOT NULL"), [(0,)])
        self.apply(self.plan("run"), db)
        self.assertAppliedOnce(db)

    def test_plan_and_status_mark_runner_steps(self):
        db = self.at_fill_code("marked")
        listed = support.tidemark("plan", "-f", self.plan("run"), "--database", SERVER.dsn(db)).stdout
        self.assertIn("apply stock.0003_fill_code  (python: run by spec.runner)", listed)
        self.assertIn("apply stock.0004_code_not_null\n", listed)
        shown = support.tidemark("status", "-f", self.plan("run"), "--database", SERVER.dsn(db)).stdout
        self.assertIn(" [ ] 0003_fill_code  (python: run by spec.runner)", shown)
        self.assertIn(" [X] 0002_item_code\n", shown)

    def test_exporter_writes_a_job_template_for_an_image(self):
        result = support.manage(SERVER.dsn("export"), "tidemark_export", "stock", "--python-steps", "Run",
                                "--runner-image", "shop:1.4", env=SETTINGS)
        import yaml
        runner = yaml.safe_load_all(result.stdout).__next__()["spec"]["runner"]
        self.assertEqual(runner, {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "shop:1.4", "command": ["python", "manage.py", "tidemark_step"],
                            "env": [{"name": "DJANGO_SETTINGS_MODULE", "value": "testproject.settings_runner"}]}],
            "restartPolicy": "Never"}}}}})
        refused = support.manage(SERVER.dsn("export"), "tidemark_export", "--runner-image", "shop:1.4", check=False,
                                 env=SETTINGS)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("--runner-command and --runner-image go with --python-steps Run", refused.stderr)

    def test_runner_that_does_not_touch_the_ledger(self):
        db = self.at_fill_code("untouched")
        output = self.apply(self.plan("noop", runner={"command": ["true"]}), db, expect=1)
        self.assertRunnerFailed(output, "the runner exited 0, but the ledger",
                                "has no row for stock.0003_fill_code",
                                "check that spec.runner uses the same database as spec.database")
        self.apply(self.plan("run"), db)
        self.assertAppliedOnce(db)

    def test_runner_pointed_at_another_database(self):
        db = self.at_fill_code("ours")
        other = self.at_fill_code("theirs")
        output = self.apply(self.plan("run"), db, runner_db=other, expect=1)
        self.assertRunnerFailed(output, "has no row for stock.0003_fill_code")
        self.assertNotIn(("stock", "0003_fill_code"), SERVER.ledger(db))
        self.assertIn(("stock", "0003_fill_code"), SERVER.ledger(other))  # where it went instead
        self.apply(self.plan("run"), db)
        self.assertAppliedOnce(db)

    def test_failing_runner_shows_its_output_without_secrets(self):
        db = self.at_fill_code("failing")
        failing = ["sh", "-c", 'echo "connecting with token $RUNNER_TOKEN"; echo "boom: no such table" >&2; exit 4']
        plan = self.plan("failing", runner={"command": failing})
        output = self.apply(plan, db, expect=1)
        self.assertRunnerFailed(output, "exited with code 4", "connecting with token ***", "boom: no such table")
        status = self.apply(plan, db, "-o", "json", expect=1)
        self.assertIn("RunnerFailed", status)
        self.assertIn("***", status)
        self.assertNotIn(("stock", "0003_fill_code"), SERVER.ledger(db))
        self.assertEqual(history(db, "stock", "0003_fill_code"), [("failure", "runner", True)] * 2)
        self.assertNotIn(SECRET, str(SERVER.query(db, "SELECT error FROM tidemark_history")))

    def test_values_from_a_secret_beside_the_plan_are_hidden_too(self):
        db = self.at_fill_code("secret_document")
        failing = ["sh", "-c", 'echo "api key $SHOP_API_KEY."; exit 5']
        path = self.plan("secret_document", runner={"command": failing})
        documents = support.read_yaml(path)
        documents[0]["spec"]["runner"]["env"].append(
            {"name": "SHOP_API_KEY", "valueFrom": {"secretKeyRef": {"name": "shop-runner", "key": "api-key"}}})
        documents.append({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": "shop-runner",
                                       "namespace": documents[0]["metadata"].get("namespace", "default")},
                          "stringData": {"api-key": FILE_SECRET}})
        support.write_yaml(path, documents)
        for output in (self.apply(path, db, expect=1), self.apply(path, db, "-o", "json", expect=1)):
            self.assertIn("api key ***.", output)
            self.assertNotIn(FILE_SECRET, output)
        self.assertNotIn(FILE_SECRET, str(SERVER.query(db, "SELECT error FROM tidemark_history")))
        self.assertEqual(history(db, "stock", "0003_fill_code"), [("failure", "runner", True)] * 2)


if __name__ == "__main__":
    unittest.main()
