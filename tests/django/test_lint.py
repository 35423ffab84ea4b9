"""Lint on real Django SQL: every statement of the test project (its apps and the stock app)
and of the Django contrib apps it installs (admin, auth, contenttypes, sessions, sites,
flatpages, redirects: every contrib app with migrations but gis, which needs PostGIS), as
tidemark_export writes them, through `tidemark lint`.

The figures and every finding, messages included, are pinned in lint.golden
(TIDEMARK_UPDATE_GOLDEN=1 rewrites it; review the diff). The findings a reviewer accepts are
accepted here as a reviewer would, with a step's lintAllow and the reason (ACCEPTED).
"""

import json
import os
import shutil
import tempfile
import unittest

import yaml

import support

SERVER = None
GOLDEN = os.path.join(os.path.dirname(__file__), "lint.golden")

# What a reviewer accepts, and why: (step, rule) -> reason.
ACCEPTED = {
    ("sites.0002_alter_domain_unique", "disallowed-unique-constraint"):
        "django_site holds a row per site: the index builds at once",
    ("sites.0002_alter_domain_unique", "require-concurrent-index-creation"):
        "django_site holds a row per site: the index builds at once",
    ("contenttypes.0002_remove_content_type_name", "ban-drop-column"):
        "Django has not read django_content_type.name since 1.8",
    ("catalog.0002_renames", "renaming-table"):
        "the test project renames on purpose; its code moves in the same release",
    ("catalog.0002_renames", "renaming-column"):
        "the test project renames on purpose; its code moves in the same release",
    ("notes.0005_rename_label_tag", "renaming-table"):
        "the test project renames on purpose; its code moves in the same release",
    ("notes.0005_rename_label_tag", "renaming-column"):
        "the test project renames on purpose; its code moves in the same release",
}


def setUpModule():
    global SERVER
    SERVER = support.Server()


def tearDownModule():
    SERVER.stop()


class LintTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tidemark-django-lint-")
        dsn = SERVER.create_database("lint")
        result = support.manage(dsn, "tidemark_export", "--name", "project", "--python-steps",
                                "RecordOnly", env=support.RUNNER_SETTINGS)
        cls.documents = list(yaml.safe_load_all(result.stdout))
        cls.steps = cls.documents[0]["spec"]["migrations"]
        for step in cls.steps:
            label = "%s.%s" % (step["app"], step["name"])
            allows = [{"rule": rule, "reason": reason}
                      for (accepted_step, rule), reason in sorted(ACCEPTED.items())
                      if accepted_step == label]
            if allows:
                step["lintAllow"] = allows
        cls.plan = os.path.join(cls.dir, "plan.yaml")
        support.write_yaml(cls.plan, cls.documents)
        cls.lint = support.tidemark("lint", "-f", cls.plan, "-o", "json", check=False)
        cls.findings = json.loads(cls.lint.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def statements(self, step):
        out = support.tidemark("sql", "%s.%s" % (step["app"], step["name"]), "-f", self.plan,
                               "-o", "json").stdout
        return len(json.loads(out)["statements"])

    def test_the_findings_match_the_golden_file(self):
        errors = [f for f in self.findings if f["severity"] == "error"]
        accepted = [f for f in self.findings if f["accepted"]]
        lines = [
            "steps: %d (apps: %s)" % (len(self.steps), ", ".join(sorted({s["app"] for s in self.steps}))),
            "statements: %d" % sum(self.statements(step) for step in self.steps),
            "findings: %d (errors: %d, warnings: %d), accepted: %d, rules raised: %s" % (
                len(self.findings), len(errors), len(self.findings) - len(errors), len(accepted),
                ", ".join(sorted({f["rule"] for f in self.findings}))),
            "",
        ]
        for finding in self.findings:
            lines.append("%s %s [%s] %s" % (finding["migration"], finding["rule"],
                                            finding["severity"], finding["message"]))
        actual = "\n".join(lines) + "\n"
        if os.environ.get("TIDEMARK_UPDATE_GOLDEN"):
            with open(GOLDEN, "w", encoding="utf-8") as out:
                out.write(actual)
        with open(GOLDEN, encoding="utf-8") as golden:
            self.assertEqual(actual, golden.read(),
                             "rerun with TIDEMARK_UPDATE_GOLDEN=1 and review the diff of lint.golden")
        # Errors not accepted remain: lint exits 1.
        self.assertEqual(self.lint.returncode, 1, self.lint.stderr)

    def rules_of(self, label):
        return sorted({f["rule"] for f in self.findings if f["migration"] == label})

    def test_tables_a_step_creates_raise_nothing(self):
        for step in self.steps:
            if step["name"].endswith("_initial") or "squashed" in step["name"]:
                self.assertEqual(self.rules_of("%s.%s" % (step["app"], step["name"])), [],
                                 step["name"])

    def test_catalogue_only_type_changes_raise_nothing(self):
        # varchar widened on a table an earlier step created: Django's max_length changes.
        for label in ["auth.0002_alter_permission_name_max_length",
                      "auth.0003_alter_user_email_max_length",
                      "auth.0008_alter_user_username_max_length",
                      "auth.0009_alter_user_last_name_max_length",
                      "auth.0010_alter_group_name_max_length",
                      "auth.0012_alter_user_first_name_max_length"]:
            self.assertEqual(self.rules_of(label), [], label)
        self.assertNotIn("changing-column-type", self.rules_of("shelf.0003_alter_shelf_label"))
        self.assertNotIn("changing-column-type", self.rules_of("library.0004_book_pages"))

    def test_what_takes_long_locks_or_breaks_the_running_release_is_found(self):
        self.assertIn("disallowed-unique-constraint", self.rules_of("library.0002_book_isbn"))
        self.assertIn("require-concurrent-index-creation", self.rules_of("library.0003_book_slug"))
        self.assertIn("setting-not-nullable-field", self.rules_of("stock.0004_code_not_null"))
        self.assertIn("constraint-missing-not-valid", self.rules_of("library.0004_book_pages"))
        # AddField with a default drops it in the same pre-deploy step; in a post-deploy one
        # (library.0004) the old release is gone.
        self.assertIn("dropping-default-breaks-running-inserts", self.rules_of("shelf.0002_shelf_label"))
        self.assertNotIn("dropping-default-breaks-running-inserts",
                         self.rules_of("library.0004_book_pages"))


if __name__ == "__main__":
    unittest.main()
