"""Moving the test project between Django and tidemark, and back, on a real PostgreSQL.

Each scenario builds one database with `tidemark apply` (alone or mixed with `manage.py
migrate`) and another with `manage.py migrate` only, then checks that they agree: pg_dump
--schema-only identical (without pg_dump's random \\restrict token and tidemark_history),
the same django_migrations rows (app, name), and Django's own view (`migrate --check`,
`showmigrations`) the same on both.
"""

import difflib
import os
import shutil
import tempfile
import unittest

import support

SERVER = None
PYTHON_STEPS = ["auth.0011_update_proxy_permissions", "contenttypes.0002_remove_content_type_name",
                "library.0003_book_slug", "notes.0003_archive", "notes.0005_rename_label_tag"]


def setUpModule():
    global SERVER
    SERVER = support.Server()


def tearDownModule():
    SERVER.stop()


class RoundTripTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tidemark-django-plans-")
        project_dsn = SERVER.create_database("project")
        # The contrib apps have RunPython steps; on a fresh database they have nothing to do.
        documents, _ = support.export(project_dsn, "--name", "project", "--python-steps", "RecordOnly")
        cls.plan = os.path.join(cls.dir, "plan.yaml")
        support.write_yaml(cls.plan, documents)
        documents[0]["spec"]["policy"]["revert"] = "Allow"
        cls.revert_plan = os.path.join(cls.dir, "plan-revert.yaml")
        support.write_yaml(cls.revert_plan, documents)
        # The same steps in ConfigMaps, several files in a folder.
        cls.configmap_dir = os.path.join(cls.dir, "configmaps")
        os.mkdir(cls.configmap_dir)
        documents, _ = support.export(project_dsn, "--name", "project", "--python-steps", "RecordOnly",
                                      "--configmaps", "--configmap-bytes", "8000")
        for index, document in enumerate(documents):
            support.write_yaml(os.path.join(cls.configmap_dir, "%02d.yaml" % index), [document])
        cls.default_plan = os.path.join(cls.dir, "plan-block.yaml")
        documents, _ = support.export(project_dsn, "--name", "project")
        support.write_yaml(cls.default_plan, documents)
        # The reference: Django alone.
        cls.django_dsn = SERVER.create_database("django_full")
        support.manage(cls.django_dsn, "migrate")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def apply(self, dsn, *args, plan=None, expect=0):
        result = support.tidemark("apply", "-f", plan or self.plan, "--database", dsn, *args, check=False)
        self.assertEqual(result.returncode, expect, "tidemark apply %s:\n%s\n%s" % (
            " ".join(args), result.stdout, result.stderr))
        return result

    def assertSameDatabase(self, dbname, reference):
        ours, theirs = SERVER.schema(dbname), SERVER.schema(reference)
        if ours != theirs:
            self.fail("pg_dump --schema-only differs (%s vs %s):\n%s" % (dbname, reference, "".join(
                difflib.unified_diff(theirs.splitlines(True), ours.splitlines(True), reference, dbname))))
        ours, theirs = SERVER.ledger(dbname), SERVER.ledger(reference)
        if ours != theirs:
            self.fail("django_migrations rows differ: only in %s: %s; only in %s: %s" % (
                dbname, sorted(set(ours) - set(theirs)), reference, sorted(set(theirs) - set(ours))))
        ours_listed = support.manage(SERVER.dsn(dbname), "showmigrations").stdout
        self.assertEqual(ours_listed, support.manage(SERVER.dsn(reference), "showmigrations").stdout)
        self.assertEqual(support.manage(SERVER.dsn(dbname), "migrate", "--check", check=False).returncode,
                         support.manage(SERVER.dsn(reference), "migrate", "--check", check=False).returncode)

    def assertFullyMigrated(self, dbname):
        dsn = SERVER.dsn(dbname)
        self.assertEqual(support.manage(dsn, "migrate", "--check", check=False).returncode, 0)
        listed = support.manage(dsn, "showmigrations").stdout
        self.assertIn("[X] 0001_squashed_0003_alter_shelf_label", listed)
        self.assertNotIn("[ ]", listed)
        self.assertEqual(support.tidemark("check", "-f", self.plan, "--database", dsn, check=False).returncode, 0)

    def test_apply_matches_migrate(self):
        dsn = SERVER.create_database("tidemark_full")
        self.apply(dsn)
        self.assertSameDatabase("tidemark_full", "django_full")
        self.assertFullyMigrated("tidemark_full")
        # The squash and everything it replaces are recorded, as Django records them.
        ledger = SERVER.ledger("tidemark_full")
        for name in ("0001_squashed_0003_alter_shelf_label", "0001_initial", "0002_shelf_label", "0003_alter_shelf_label"):
            self.assertIn(("shelf", name), ledger)
        # Nothing left to do; a database Django built is up to date for tidemark too.
        self.apply(dsn)
        self.assertEqual(SERVER.ledger("tidemark_full"), ledger)
        self.assertFullyMigrated("django_full")

    def test_configmap_plan_matches_migrate(self):
        dsn = SERVER.create_database("tidemark_configmaps")
        self.apply(dsn, plan=self.configmap_dir)
        self.assertSameDatabase("tidemark_configmaps", "django_full")

    def test_revert_matches_migrate(self):
        dsn = SERVER.create_database("tidemark_revert")
        django = SERVER.create_database("django_revert")
        self.apply(dsn)
        support.manage(django, "migrate")
        self.apply(dsn, "--target", "library.0002_book_isbn", "redirects.zero", plan=self.revert_plan)
        support.manage(django, "migrate", "library", "0002_book_isbn")
        support.manage(django, "migrate", "redirects", "zero")
        self.assertNotIn(("library", "0003_book_slug"), SERVER.ledger("tidemark_revert"))
        self.assertNotIn(("redirects", "0001_initial"), SERVER.ledger("tidemark_revert"))
        self.assertSameDatabase("tidemark_revert", "django_revert")
        # And forwards again.
        self.apply(dsn)
        support.manage(django, "migrate")
        self.assertSameDatabase("tidemark_revert", "django_revert")
        self.assertFullyMigrated("tidemark_revert")

    def test_revert_is_denied_by_default(self):
        dsn = SERVER.create_database("tidemark_deny")
        self.apply(dsn)
        self.apply(dsn, "--target", "library.0002_book_isbn", expect=1)
        self.assertIn(("library", "0004_book_pages"), SERVER.ledger("tidemark_deny"))

    def test_django_first_then_tidemark(self):
        dsn = SERVER.create_database("mixed_django_first")
        support.manage(dsn, "migrate", "library", "0002_book_isbn")
        self.apply(dsn)
        self.assertSameDatabase("mixed_django_first", "django_full")
        self.assertFullyMigrated("mixed_django_first")

    def test_tidemark_first_then_django(self):
        dsn = SERVER.create_database("mixed_tidemark_first")
        self.apply(dsn, "--target", "library.0002_book_isbn")
        self.assertNotIn(("library", "0003_book_slug"), SERVER.ledger("mixed_tidemark_first"))
        self.assertIn(("library", "0002_book_isbn"), SERVER.ledger("mixed_tidemark_first"))
        support.manage(dsn, "migrate")
        self.assertSameDatabase("mixed_tidemark_first", "django_full")
        self.assertFullyMigrated("mixed_tidemark_first")

    def test_partly_applied_squash(self):
        # History: shelf.0001 and 0002 applied before the squash was written.
        with open(self.plan) as plan_file:
            plan = support.steps_by_label(next(support.yaml.safe_load_all(plan_file)))
        for dbname in ("partial_tidemark", "partial_django"):
            dsn = SERVER.create_database(dbname)
            support.manage(dsn, "migrate", "library")
            support.replay(dsn, [plan["shelf.0001_initial"], plan["shelf.0002_shelf_label"]], "forward")
            SERVER.query(dbname, "INSERT INTO django_migrations (app, name, applied) VALUES "
                                   "('shelf', '0001_initial', now()), ('shelf', '0002_shelf_label', now())")
        self.assertIn("[ ] 0003_alter_shelf_label", support.manage(SERVER.dsn("partial_django"), "showmigrations", "shelf").stdout)
        self.apply(SERVER.dsn("partial_tidemark"))
        support.manage(SERVER.dsn("partial_django"), "migrate")
        self.assertSameDatabase("partial_tidemark", "partial_django")
        self.assertSameDatabase("partial_tidemark", "django_full")
        self.assertFullyMigrated("partial_tidemark")

    def test_fake_initial_matches_migrate(self):
        # Tables of library's initial step exist but are not recorded (made by hand, say).
        with open(self.plan) as plan_file:
            plan = support.steps_by_label(next(support.yaml.safe_load_all(plan_file)))
        for dbname in ("initial_tidemark", "initial_django"):
            dsn = SERVER.create_database(dbname)
            support.manage(dsn, "migrate", "auth")
            support.manage(dsn, "migrate", "sites")
            support.replay(dsn, [plan["library.0001_initial"]], "forward")
        self.apply(SERVER.dsn("initial_tidemark"), expect=1)  # CREATE TABLE fails: it exists
        self.apply(SERVER.dsn("initial_tidemark"), "--fake-initial")
        support.manage(SERVER.dsn("initial_django"), "migrate", "--fake-initial")
        self.assertSameDatabase("initial_tidemark", "initial_django")
        self.assertSameDatabase("initial_tidemark", "django_full")

    def test_record_only_python_steps_are_reported(self):
        dsn = SERVER.create_database("tidemark_record_only")
        result = self.apply(dsn)
        lines = (result.stdout + result.stderr).splitlines()
        for label in PYTHON_STEPS:
            self.assertTrue(any(label in line and "python" in line.lower() for line in lines),
                            "the apply output does not say that %s was recorded without its Python code:\n%s"
                            % (label, result.stdout + result.stderr))

    def test_python_steps_block_by_default(self):
        dsn = SERVER.create_database("tidemark_block")
        result = self.apply(dsn, plan=self.default_plan, expect=1)
        ledger = ["%s.%s" % row for row in SERVER.ledger("tidemark_block")]
        self.assertFalse(set(PYTHON_STEPS) & set(ledger), ledger)
        output = result.stdout + result.stderr
        self.assertTrue(any(step in output for step in PYTHON_STEPS), output)


if __name__ == "__main__":
    unittest.main()
