"""`manage.py tidemark_step` (the Django side of spec.runner) on a real PostgreSQL: exactly
one migration applied or unapplied by Django's executor, refusals that change nothing, and
post-migrate giving what `manage.py migrate` gives. The project runs with
testproject.settings_runner, which adds the `stock` app (expand, back-fill, contract).
"""

import unittest

import support

SERVER = None
SETTINGS = support.RUNNER_SETTINGS
ROWS = 3000
STOCK_STEPS = ("0001_initial", "0002_item_code", "0003_fill_code", "0004_code_not_null", "0005_count_items")


def setUpModule():
    global SERVER
    SERVER = support.Server()


def tearDownModule():
    SERVER.stop()


def manage(dbname, *args, check=True):
    return support.manage(SERVER.dsn(dbname), *args, check=check, env=SETTINGS)


def step(dbname, *args, check=True):
    return manage(dbname, "tidemark_step", *args, check=check)


def seed_items(dbname):
    support.seed_stock_items(SERVER, dbname, ROWS)


def stock_ledger(dbname):
    return [name for app, name in SERVER.ledger(dbname) if app == "stock"]


def signal_rows(dbname):
    """What post_migrate handlers write: content types, permissions, the site, groups."""
    return {
        "content types": SERVER.query(dbname, "SELECT app_label, model FROM django_content_type ORDER BY 1, 2"),
        "permissions": SERVER.query(dbname, "SELECT ct.app_label, p.codename, p.name FROM auth_permission p "
                                            "JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY 1, 2"),
        "sites": SERVER.query(dbname, "SELECT id, domain, name FROM django_site ORDER BY 1"),
        "groups": SERVER.query(dbname, "SELECT g.name, p.codename FROM auth_group g JOIN auth_group_permissions gp "
                                       "ON gp.group_id = g.id JOIN auth_permission p ON p.id = gp.permission_id "
                                       "ORDER BY 1, 2"),
    }


class StepTest(unittest.TestCase):
    def database(self, name, stock_at):
        """A database migrated by Django up to stock STOCK_AT, with rows in stock_item."""
        SERVER.create_database(name)
        manage(name, "migrate", "stock", "0001")
        seed_items(name)
        manage(name, "migrate", "stock", stock_at)
        return name

    def assertRefused(self, result, text):
        self.assertEqual(result.returncode, 3, result.stdout + result.stderr)
        self.assertIn(text, result.stderr)
        self.assertIn("nothing was changed", result.stderr)

    def test_apply_runs_exactly_that_migration(self):
        db = self.database("apply_one", "0002")
        result = step(db, "apply", "stock", "0003_fill_code")
        self.assertIn("applied stock.0003_fill_code", result.stdout)
        self.assertEqual(stock_ledger(db), ["0001_initial", "0002_item_code", "0003_fill_code"])
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM stock_item WHERE code IS NULL"), [(0,)])
        self.assertEqual(SERVER.query(db, "SELECT code FROM stock_item WHERE name = 'item10'"), [("ITEM10-0003",)])

    def test_apply_refuses_what_is_applied_or_needs_more(self):
        db = self.database("apply_refused", "0001")
        schema = SERVER.schema(db)
        self.assertRefused(step(db, "apply", "stock", "0003_fill_code", check=False),
                           "migration stock.0003_fill_code needs stock.0002_item_code applied first")
        self.assertRefused(step(db, "apply", "stock", "0001_initial", check=False),
                           "migration stock.0001_initial is already applied")
        self.assertEqual(SERVER.schema(db), schema)
        self.assertEqual(stock_ledger(db), ["0001_initial"])

    def test_unknown_migration(self):
        db = self.database("unknown", "0001")
        result = step(db, "apply", "stock", "0009_missing", check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no migration stock.0009_missing in this project", result.stderr)

    def test_revert_runs_the_reverse_code_of_exactly_that_migration(self):
        db = self.database("revert_one", "0003")
        step(db, "revert", "stock", "0003_fill_code")
        self.assertEqual(stock_ledger(db), ["0001_initial", "0002_item_code"])
        self.assertEqual(SERVER.query(db, "SELECT count(*) FROM stock_item WHERE code IS NOT NULL"), [(0,)])

    def test_revert_refuses_with_dependents_or_without_reverse_code(self):
        db = self.database("revert_refused", "0005")
        schema = SERVER.schema(db)
        self.assertRefused(step(db, "revert", "stock", "0003_fill_code", check=False),
                           "migration stock.0003_fill_code cannot be unapplied before stock.0004_code_not_null")
        self.assertRefused(step(db, "revert", "stock", "0005_count_items", check=False),
                           "migration stock.0005_count_items is irreversible")
        SERVER.create_database("revert_unapplied")
        manage("revert_unapplied", "migrate", "stock", "0001")
        self.assertRefused(step("revert_unapplied", "revert", "stock", "0002_item_code", check=False),
                           "migration stock.0002_item_code is not applied")
        self.assertEqual(SERVER.schema(db), schema)
        self.assertEqual(len(stock_ledger(db)), 5)

    def database_without_signal_rows(self, name):
        """Every app but stock migrated by Django, their signal rows then removed: what
        post_migrate writes comes back only when stock's steps emit it."""
        SERVER.create_database(name)
        listed = manage(name, "showmigrations", "--list").stdout.splitlines()
        apps = [line for line in listed if line and not line[0].isspace()]
        self.assertIn("stock", apps)
        for app in apps:
            if app != "stock":
                manage(name, "migrate", app)
        SERVER.query(name, "DELETE FROM auth_group_permissions; DELETE FROM auth_group; "
                           "DELETE FROM auth_permission; DELETE FROM django_content_type; "
                           "DELETE FROM django_site")
        return name

    def test_apply_emits_no_post_migrate_and_post_migrate_equals_migrate(self):
        SERVER.create_database("by_migrate")
        manage("by_migrate", "migrate")
        self.database_without_signal_rows("by_steps")
        for name in STOCK_STEPS:
            step("by_steps", "apply", "stock", name)
        self.assertEqual(signal_rows("by_steps"), {"content types": [], "permissions": [], "sites": [],
                                                   "groups": []})
        result = step("by_steps", "post-migrate")
        self.assertIn("post_migrate emitted", result.stdout)
        self.assertEqual(signal_rows("by_steps"), signal_rows("by_migrate"))
        self.assertIn(("stock keepers", "add_item"), signal_rows("by_steps")["groups"])
        self.assertEqual(SERVER.ledger("by_steps"), SERVER.ledger("by_migrate"))
        self.assertEqual(SERVER.schema("by_steps"), SERVER.schema("by_migrate"))

    def test_post_migrate_flag_emits_it_after_the_step_in_the_same_process(self):
        SERVER.create_database("flag_by_migrate")
        manage("flag_by_migrate", "migrate")
        self.database_without_signal_rows("flag_by_steps")
        for name in STOCK_STEPS[:-1]:
            step("flag_by_steps", "apply", "stock", name)
        result = step("flag_by_steps", "apply", "stock", STOCK_STEPS[-1], "--post-migrate")
        self.assertIn("applied stock.%s" % STOCK_STEPS[-1], result.stdout)
        self.assertIn("post_migrate emitted", result.stdout)
        self.assertEqual(signal_rows("flag_by_steps"), signal_rows("flag_by_migrate"))
        self.assertEqual(SERVER.ledger("flag_by_steps"), SERVER.ledger("flag_by_migrate"))

    def test_a_post_migrate_that_fails_after_the_step_exits_4_with_the_step_kept(self):
        db = self.database_without_signal_rows("flag_fails")
        for name in STOCK_STEPS[:-1]:
            step(db, "apply", "stock", name)
        # auth's handler then fails: the table it writes is gone.
        SERVER.query(db, "DROP TABLE auth_permission CASCADE")
        result = step(db, "apply", "stock", STOCK_STEPS[-1], "--post-migrate", check=False)
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)
        self.assertIn("migration stock.%s was applied, but post_migrate failed after it" % STOCK_STEPS[-1],
                      result.stderr)
        self.assertEqual(stock_ledger(db), list(STOCK_STEPS))

if __name__ == "__main__":
    unittest.main()
