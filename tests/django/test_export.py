"""manage.py tidemark_export on the test project (Django's contrib apps plus library, shelf,
notes, badges, ratings), against a real PostgreSQL: the plan's shape, and that its SQL is what Django runs.

The SQL check replays the exported steps with a few lines of psycopg2 (not tidemark) and
compares pg_dump --schema-only with a database that `manage.py migrate` built.
"""

import unittest

import support

SERVER = None


def setUpModule():
    global SERVER
    SERVER = support.Server()


def tearDownModule():
    SERVER.stop()


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project_dsn = SERVER.create_database("project")
        cls.documents, cls.stderr = support.export(cls.project_dsn, "--name", "shop", "--namespace", "prod")
        cls.plan = cls.documents[0]
        cls.steps = support.steps_by_label(cls.plan)
        cls.replaced = {r for s in cls.plan["spec"]["migrations"] for r in s.get("replaces", [])}

    def test_plan_document(self):
        self.assertEqual(len(self.documents), 1)
        self.assertEqual(self.plan["apiVersion"], "tidemark.dev/v1alpha1")
        self.assertEqual(self.plan["kind"], "MigrationPlan")
        self.assertEqual(self.plan["metadata"], {"name": "shop", "namespace": "prod"})
        self.assertEqual(self.plan["spec"]["database"], {"dsnFrom": {"secretKeyRef": {"name": "shop-db", "key": "dsn"}}})
        # DEFAULT_AUTO_FIELD = BigAutoField: Django's recorder makes django_migrations.id bigserial.
        self.assertEqual(self.plan["spec"]["ledger"], {"idType": "bigint"})
        self.assertNotIn("policy", self.plan["spec"])

    def test_every_migration_is_a_step(self):
        listed = support.manage(self.project_dsn, "showmigrations", "--plan").stdout
        django_plan = [line[4:].strip() for line in listed.splitlines() if line.startswith("[ ]")]
        # A fresh database takes the squash path; the steps it replaces are exported too.
        self.assertEqual(set(self.steps), set(django_plan) | self.replaced)
        self.assertEqual(self.replaced, {"shelf.0001_initial", "shelf.0002_shelf_label", "shelf.0003_alter_shelf_label"})
        self.assertIn("admin.0003_logentry_add_action_flag_choices", self.steps)
        self.assertIn("redirects.0001_initial", self.steps)
        order = list(self.steps)
        for label, step in self.steps.items():
            self.assertEqual(set(step), {"app", "name", "dependencies", "atomic", "forward", "backward",
                                         "replaces", "python", "initial", "irreversibleReason", "phase"} & set(step), label)
            for dependency in step["dependencies"]:
                self.assertIn(dependency, self.steps, label)
                if label not in self.replaced and dependency not in self.replaced:
                    self.assertLess(order.index(dependency), order.index(label), label)
        # Django's Migration.initial travels with the step (for --fake-initial).
        self.assertIs(self.steps["library.0001_initial"]["initial"], True)
        self.assertNotIn("initial", self.steps["auth.0001_initial"])  # contrib leaves it unset

    def test_post_deployment_migrations_are_post_deploy_steps(self):
        # tidemark_phase = "PostDeploy" and is_post_deployment = True; every other step is
        # pre-deploy, the default, which the document leaves out.
        self.assertEqual(self.steps["library.0004_book_pages"]["phase"], "PostDeploy")
        self.assertEqual(self.steps["notes.0005_rename_label_tag"]["phase"], "PostDeploy")
        marked = {label for label, step in self.steps.items() if "phase" in step}
        self.assertEqual(marked, {"library.0004_book_pages", "notes.0005_rename_label_tag"})

    def test_dependencies_are_resolved(self):
        # swappable_dependency(AUTH_USER_MODEL) and __first__ become step names.
        self.assertEqual(self.steps["library.0001_initial"]["dependencies"],
                         ["auth.0001_initial", "sites.0002_alter_domain_unique"])
        self.assertEqual(self.steps["auth.0001_initial"]["dependencies"], ["contenttypes.0001_initial"])
        # Declared names are kept: a dependency on a replaced step stays as written.
        self.assertEqual(self.steps["notes.0001_initial"]["dependencies"],
                         ["flatpages.0001_initial", "shelf.0002_shelf_label"])

    def test_squash(self):
        squash = self.steps["shelf.0001_squashed_0003_alter_shelf_label"]
        self.assertEqual(squash["replaces"], ["shelf.0001_initial", "shelf.0002_shelf_label", "shelf.0003_alter_shelf_label"])
        self.assertIn('CREATE TABLE "shelf_shelf" ("id" bigserial NOT NULL PRIMARY KEY', squash["forward"])
        self.assertIn('ALTER TABLE "shelf_shelf" ALTER COLUMN "label" TYPE varchar(50);',
                      self.steps["shelf.0003_alter_shelf_label"]["forward"])
        self.assertNotIn("replaces", self.steps["shelf.0002_shelf_label"])

    def test_atomic(self):
        non_atomic = sorted(label for label, s in self.steps.items() if not s["atomic"])
        self.assertEqual(non_atomic, ["notes.0002_note_created_concurrently"])
        self.assertEqual(self.steps["notes.0002_note_created_concurrently"]["forward"],
                         'CREATE INDEX CONCURRENTLY "notes_note_created_idx" ON "notes_note" ("created");\n')

    def test_python_steps(self):
        python = sorted(label for label, s in self.steps.items() if s.get("python"))
        # contenttypes.0002 has backward code, auth.0011 both ways; RunPython.noop both ways
        # (library.0004) is not code to carry.
        self.assertEqual(python, ["auth.0011_update_proxy_permissions", "catalog.0002_renames",
                                  "contenttypes.0002_remove_content_type_name",
                                  "library.0003_book_slug", "notes.0003_archive", "notes.0005_rename_label_tag",
                                  "ratings.0002_rating_comment"])
        self.assertIn("notes.0005_rename_label_tag: RenameModel Label -> Tag: contenttypes renames", self.stderr)
        self.assertIn("library.0003_book_slug: RunPython forward code library.migrations.0003_book_slug.fill_slugs",
                      self.stderr)
        # The ORM's UPDATE ran on the scratch database but is not SQL of the step.
        self.assertNotIn("UPDATE", self.steps["notes.0003_archive"]["forward"])

    def test_irreversible_and_empty(self):
        irreversible = sorted(label for label, s in self.steps.items() if "backward" not in s)
        self.assertEqual(irreversible, ["badges.0002_level_backfill", "notes.0003_archive",
                                        "ratings.0002_rating_comment"])
        self.assertEqual(self.steps["notes.0003_archive"]["irreversibleReason"],
                         "operation RunPython is not reversible (Raw Python operation)")
        # Ways back that fail in Django too (SQL refused by PostgreSQL, code that raises) do
        # not fail the export: each such step is irreversible and says why, here and on
        # standard error, and every other step keeps its way back.
        sql_failure = ("unapplying it failed on the scratch database: ProgrammingError: operator does not exist: "
                       "integer = character varying")
        python_failure = ("unapplying it failed on the scratch database: RuntimeError: comments cannot be removed "
                          "once written")
        self.assertEqual(self.steps["badges.0002_level_backfill"]["irreversibleReason"], sql_failure)
        self.assertEqual(self.steps["ratings.0002_rating_comment"]["irreversibleReason"], python_failure)
        self.assertIn("irreversible: badges.0002_level_backfill: " + sql_failure + "\n", self.stderr)
        self.assertIn("irreversible: ratings.0002_rating_comment: " + python_failure + "\n", self.stderr)
        self.assertIn("tidemark_export: %d steps (3 irreversible, 2 whose unapply failed, 7 python)" % len(self.steps),
                      self.stderr)
        self.assertEqual(self.steps["badges.0001_initial"]["backward"], 'DROP TABLE "badges_badge" CASCADE;\n')
        self.assertEqual(self.steps["badges.0003_badge_note"]["backward"],
                         'ALTER TABLE "badges_badge" DROP COLUMN "note" CASCADE;\n')
        self.assertEqual(self.steps["ratings.0001_initial"]["backward"], 'DROP TABLE "ratings_rating" CASCADE;\n')
        # Reversible steps with no SQL (validators only) carry "" both ways.
        empty = self.steps["auth.0007_alter_validators_add_error_messages"]
        self.assertEqual((empty["forward"], empty["backward"]), ("", ""))

    def test_deferred_sql_in_execution_order(self):
        forward = self.steps["library.0001_initial"]["forward"].splitlines()
        create_book = forward.index(next(s for s in forward if s.startswith('CREATE TABLE "library_book"')))
        foreign_key = forward.index(next(s for s in forward if "library_book_author_id_d9a3b67e_fk" in s))
        self.assertLess(create_book, foreign_key)
        # Names Django looks up in the catalogue before dropping are looked up when the step
        # runs (a DO block), by table, columns and kind; none is frozen.
        rename = self.steps["notes.0005_rename_label_tag"]["forward"]
        self.assertNotIn("notes_label_notes_label_id_c7020466_fk_notes_label_id", rename)
        self.assertIn("DO $tidemark$\n-- Django looks the name up as it runs: foreign key, on notes_tag_notes(label_id).\n",
                      rename)
        self.assertIn("""EXECUTE format('SET CONSTRAINTS %1$I IMMEDIATE; ALTER TABLE "notes_tag_notes" DROP CONSTRAINT %1$I', name);""",
                      rename)
        self.assertLess(rename.index("DO $tidemark$"), rename.index('RENAME COLUMN "label_id" TO "tag_id"'))
        # Django's rule for unique_together: exactly one, or its error naming table and columns.
        content_type = self.steps["contenttypes.0001_initial"]["backward"]
        self.assertNotIn("django_content_type_app_label_model_76bd3d3b_uniq", content_type)
        self.assertIn("RAISE EXCEPTION 'Found wrong number (%) of constraints for django_content_type(app_label, model)'",
                      content_type)
        # A name the model gives (Meta.constraints) is Django's own, not looked up.
        self.assertIn('ALTER TABLE "library_book" DROP CONSTRAINT "library_book_pages_sane";',
                      self.steps["library.0004_book_pages"]["backward"])
        # A RunSQL statement ending in a comment is terminated on a line of its own.
        self.assertIn("WHERE NOT archived; -- newest first\n;\n", self.steps["notes.0003_archive"]["forward"])

    def test_scratch_database_is_dropped_and_project_untouched(self):
        self.assertEqual([d for d in SERVER.databases() if "scratch" in d], [])
        self.assertEqual(SERVER.query("project", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), [(0,)])

    def test_sql_reproduces_migrate(self):
        django_dsn = SERVER.create_database("sql_django")
        support.manage(django_dsn, "migrate")
        for path in ("squash", "replaced"):
            with self.subTest(path=path):
                replay_dsn = SERVER.create_database("sql_replay_" + path)
                if path == "squash":
                    steps = [s for label, s in self.steps.items() if label not in self.replaced]
                else:
                    steps = [s for s in self.steps.values() if not s.get("replaces")]
                support.replay(replay_dsn, steps, "forward")
                self.assertEqual(SERVER.schema("sql_replay_" + path, exclude=["django_migrations*"]),
                                 SERVER.schema("sql_django", exclude=["django_migrations*"]))

        # The way back: library to 0002, as `migrate library 0002_book_isbn` does it.
        support.manage(django_dsn, "migrate", "library", "0002_book_isbn")
        support.replay(SERVER.dsn("sql_replay_squash"),
               [self.steps["library.0004_book_pages"], self.steps["library.0003_book_slug"]], "backward")
        self.assertEqual(SERVER.schema("sql_replay_squash", exclude=["django_migrations*"]),
                         SERVER.schema("sql_django", exclude=["django_migrations*"]))


class ExportOptionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project_dsn = SERVER.create_database("options")

    def test_apps_take_what_they_need(self):
        documents, stderr = support.export(self.project_dsn, "library")
        labels = list(support.steps_by_label(documents[0]))
        self.assertEqual(sorted(labels), sorted([
            "contenttypes.0001_initial", "auth.0001_initial", "sites.0001_initial", "sites.0002_alter_domain_unique",
            "library.0001_initial", "library.0002_book_isbn", "library.0003_book_slug", "library.0004_book_pages"]))
        self.assertIn("tidemark_export: 8 steps (0 irreversible, 0 whose unapply failed, 1 python)", stderr)
        # A step the squash replaces brings the squash along.
        documents, _ = support.export(self.project_dsn, "notes")
        labels = support.steps_by_label(documents[0])
        self.assertIn("shelf.0002_shelf_label", labels)
        self.assertIn("shelf.0001_squashed_0003_alter_shelf_label", labels)
        self.assertIn("shelf.0003_alter_shelf_label", labels)
        self.assertNotIn("redirects.0001_initial", labels)

    def test_export_is_repeatable_with_a_fixed_clock(self):
        first = support.manage(self.project_dsn, "tidemark_export").stdout
        self.assertEqual(support.manage(self.project_dsn, "tidemark_export").stdout, first)
        # auth.0005's way back fills NULL last_login with timezone.now(), as Django does.
        self.assertIn("""UPDATE "auth_user" SET "last_login" = '1970-01-01T00:00:00+00:00'::timestamptz""", first)
        later = support.manage(self.project_dsn, "tidemark_export", "--clock", "2024-05-01T12:00:00+02:00").stdout
        self.assertIn("""UPDATE "auth_user" SET "last_login" = '2024-05-01T10:00:00+00:00'::timestamptz""", later)

    def test_unknown_app_is_an_error(self):
        result = support.manage(self.project_dsn, "tidemark_export", "nosuchapp", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("nosuchapp", result.stderr)

    def test_plan_reference_options(self):
        documents, _ = support.export(self.project_dsn, "--name", "shop", "--dsn-secret", "shop-db-admin:url",
                                      "--schema", "shop", "--python-steps", "RecordOnly", "sites")
        spec = documents[0]["spec"]
        self.assertEqual(spec["database"], {"dsnFrom": {"secretKeyRef": {"name": "shop-db-admin", "key": "url"}},
                                            "schema": "shop"})
        self.assertEqual(spec["policy"], {"pythonSteps": "RecordOnly"})
        documents, _ = support.export(self.project_dsn, "--dsn-env", "DATABASE_URL", "sites")
        self.assertEqual(documents[0]["spec"]["database"], {"dsnFrom": {"env": "DATABASE_URL"}})

    def test_configmaps_under_the_limit(self):
        inline, _ = support.export(self.project_dsn, "--name", "shop")
        documents, _ = support.export(self.project_dsn, "--name", "shop", "--configmaps", "--configmap-bytes", "12000")
        plan, configmaps = documents[0], documents[1:]
        self.assertNotIn("migrations", plan["spec"])
        self.assertGreater(len(configmaps), 2)
        self.assertEqual(plan["spec"]["migrationsFrom"],
                         [{"configMapRef": {"name": "shop-migrations-%d" % i}} for i in range(len(configmaps))])
        steps = []
        for configmap in configmaps:
            self.assertEqual((configmap["apiVersion"], configmap["kind"]), ("v1", "ConfigMap"))
            self.assertEqual(list(configmap["data"]), ["steps.yaml"])
            self.assertLessEqual(len(configmap["data"]["steps.yaml"].encode()), 12000)
            steps += support.yaml.safe_load(configmap["data"]["steps.yaml"])
        self.assertEqual(steps, inline[0]["spec"]["migrations"])

    def export_variant(self, variant):
        return support.manage(self.project_dsn, "tidemark_export", check=False, env={
            "DJANGO_SETTINGS_MODULE": "testproject.settings_variant", "TIDEMARK_TEST_NOTES_MIGRATIONS": variant})

    def test_conflicting_migrations_are_refused(self):
        result = self.export_variant("conflict")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("conflicting migrations (run makemigrations --merge): notes: 0002_left, 0002_right", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_a_migration_that_fails_names_itself_and_leaves_nothing_behind(self):
        result = self.export_variant("failing")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("applying notes.0002_broken on the scratch database failed", result.stderr)
        self.assertIn('type "no_such_type" does not exist', result.stderr)
        self.assertEqual([d for d in SERVER.databases() if "scratch" in d], [])

    def test_a_step_larger_than_a_configmap_is_an_error(self):
        result = support.manage(self.project_dsn, "tidemark_export", "--configmaps", "--configmap-bytes", "500",
                                check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("more than a ConfigMap may hold (500)", result.stderr)


if __name__ == "__main__":
    unittest.main()
