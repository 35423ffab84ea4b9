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
PYTHON_STEPS = ["auth.0011_update_proxy_permissions", "catalog.0002_renames",
                "contenttypes.0002_remove_content_type_name",
                "library.0003_book_slug", "notes.0003_archive", "notes.0005_rename_label_tag",
                "ratings.0002_rating_comment"]

# Gives every constraint and index of the catalog app another name (the same on every
# database), as an older Django version or a person might have named them.
FOREIGN_NAMES = r"""
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.conname, t.relname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
           WHERE t.relname LIKE 'catalog\_%' LOOP
    EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', r.relname, r.conname, 'old_' || md5(r.conname));
  END LOOP;
  FOR r IN SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           WHERE t.relname LIKE 'catalog\_%' AND i.relname NOT LIKE 'old\_%' LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', r.relname, 'old_' || md5(r.relname));
  END LOOP;
END $$;
"""


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
                                      "--configmaps", "--configmap-bytes", "12000")
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

    def migrate_both(self, dbname, reference, target=None):
        """Moves DBNAME with tidemark and REFERENCE with Django to TARGET ("app.name"; None:
        everything) and checks that they agree."""
        if target is None:
            self.apply(SERVER.dsn(dbname))
            support.manage(SERVER.dsn(reference), "migrate")
        else:
            self.apply(SERVER.dsn(dbname), "--target", target, plan=self.revert_plan)
            support.manage(SERVER.dsn(reference), "migrate", *target.split("."))
        self.assertSameDatabase(dbname, reference)

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
        # The ledger table as Django makes it with DEFAULT_AUTO_FIELD = BigAutoField.
        self.assertEqual(SERVER.query("tidemark_full", "SELECT data_type FROM information_schema.columns "
                                                       "WHERE table_name = 'django_migrations' AND column_name = 'id'"),
                         [("bigint",)])
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

    def test_names_are_found_after_a_revert_and_reapply(self):
        # Reverting catalog.0003 recreates its constraints and indexes under names made from
        # the renamed table and columns; applying it again must drop those, as Django does.
        SERVER.create_database("names_tidemark")
        SERVER.create_database("names_django")
        self.migrate_both("names_tidemark", "names_django")
        for target in ("catalog.0002_renames", "catalog.0001_initial"):
            with self.subTest(target=target):
                self.migrate_both("names_tidemark", "names_django", target)
                self.migrate_both("names_tidemark", "names_django")
                self.assertFullyMigrated("names_tidemark")

    def test_target_reverts_other_apps_dependents_as_migrate_does(self):
        # ratings.0003 needs catalog.0002: `migrate catalog 0001_initial` reverts it first.
        dsn = SERVER.create_database("target_tidemark")
        django = SERVER.create_database("target_django")
        self.migrate_both("target_tidemark", "target_django")
        planned = support.tidemark("plan", "-f", self.plan, "--database", dsn, "--target", "catalog.0001_initial")
        self.assertIn("Planned operations:\n  revert ratings.0003_rating_product\n  revert catalog.0003_constraints\n"
                      "  revert catalog.0002_renames\n", planned.stdout)
        self.assertNotIn("apply", planned.stdout)
        result = self.apply(dsn, "--target", "catalog.0001_initial", "--allow-revert")
        self.assertRegex(result.stdout, r"\[1/3\] Reverting ratings.0003_rating_product\.\.\. OK .*\n"
                                        r"  \[2/3\] Reverting catalog.0003_constraints\.\.\. OK .*\n"
                                        r"  \[3/3\] Reverting catalog.0002_renames\.\.\. OK")
        support.manage(django, "migrate", "catalog", "0001_initial")
        self.assertSameDatabase("target_tidemark", "target_django")
        self.assertIn(("ratings", "0002_rating_comment"), SERVER.ledger("target_tidemark"))
        # In a plan's spec.targets the same need is a conflict that names the targets to add.
        with open(self.revert_plan) as plan_file:
            documents = list(support.yaml.safe_load_all(plan_file))
        documents[0]["spec"]["targets"] = [{"app": "catalog", "migration": "0001_initial"}]
        spec_plan = os.path.join(self.dir, "plan-catalog-0001.yaml")
        support.write_yaml(spec_plan, documents)
        conflict = self.apply(dsn, plan=spec_plan, expect=2)
        self.assertIn("TargetConflict: spec.targets[0] wants app catalog at 0001_initial, but "
                      "ratings.0003_rating_product needs catalog.0002_renames; add {app: ratings, migration: "
                      "0002_rating_comment} to spec.targets (what `manage.py migrate catalog 0001_initial` reverts)",
                      conflict.stderr)
        documents[0]["spec"]["targets"].append({"app": "ratings", "migration": "0002_rating_comment"})
        support.write_yaml(spec_plan, documents)
        self.apply(dsn, plan=spec_plan)
        self.assertSameDatabase("target_tidemark", "target_django")
        self.migrate_both("target_tidemark", "target_django")  # forwards again
        self.assertFullyMigrated("target_tidemark")

    def test_names_are_found_on_a_database_with_other_names(self):
        for dbname in ("foreign_tidemark", "foreign_django"):
            support.manage(SERVER.create_database(dbname), "migrate", "catalog", "0002_renames")
            SERVER.query(dbname, FOREIGN_NAMES)
        self.assertEqual(SERVER.query("foreign_tidemark", "SELECT count(*) FROM pg_class WHERE relname LIKE "
                                                          "'catalog\\_%' AND relkind = 'i' AND relname NOT LIKE 'old\\_%'"),
                         [(0,)])
        self.migrate_both("foreign_tidemark", "foreign_django")
        self.assertFullyMigrated("foreign_tidemark")
        # The constraints catalog.0003 drops are gone, whatever they were called.
        self.assertEqual(SERVER.query("foreign_tidemark", "SELECT conname FROM pg_constraint WHERE conrelid = "
                                                          "'catalog_product'::regclass AND contype IN ('u', 'c')"), [])
        # Backwards to an earlier step, and forwards again.
        self.migrate_both("foreign_tidemark", "foreign_django", "catalog.0002_renames")
        self.migrate_both("foreign_tidemark", "foreign_django")
        self.assertFullyMigrated("foreign_tidemark")

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
