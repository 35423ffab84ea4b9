#!/usr/bin/python3
"""tidemark lint against squawk on the migrations of real Django apps.

The corpus: every migration of Django's contrib apps and of the third-party Django apps that
Debian packages (THIRD_PARTY below; install them first, see bench/README.md), exported with
tidemark_export from a private PostgreSQL (tools/pg-sandbox), as a user would export them.
Each step is linted by `tidemark lint` (the plan, in order) and by squawk (the step's
statements as one file, `--assume-in-transaction` for an atomic step, as Django runs it),
both for the server's version. Findings are compared statement by statement, by family
(FAMILIES: the rules of both tools that judge the same danger); the rules of squawk that are
not about a statement's danger are left out, with the reason (NOT_COMPARED).

PostgreSQL itself judges the families about a long lock (LOCK_FAMILIES): each step runs on a
database migrated up to it (tables empty), and a statement is heavy when it rewrites a table
that existed before the step (its relfilenode changes) or scans one (pg_stat_xact_user_tables
counts a sequential scan: index builds, validations, NOT NULL checks), which on a table with
rows happens under the statement's lock. Per tool: its lock findings PostgreSQL confirms,
those it does not (false alarms), and the heavy statements it misses.

Prints the corpus's size, the statements each tool flags, those both flag, that judgement,
and every disagreement grouped by tool and family with an example statement, for a person
to judge the rest; `--json FILE` writes every disagreement.

    bench/lint_vs_squawk.py --squawk PATH [--tidemark build/bin/tidemark] [--json FILE]
"""

import argparse
import collections
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "django"))
os.environ.setdefault("TIDEMARK_SOURCE_DIR", SOURCE_DIR)

import psycopg2  # noqa: E402  (Debian's, as the tests use)
import support  # noqa: E402  (the tests' server and project helpers)
import yaml  # noqa: E402

CONTRIB = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
           "django.contrib.sessions", "django.contrib.messages", "django.contrib.sites",
           "django.contrib.flatpages", "django.contrib.redirects", "django.contrib.postgres"]
# Debian package -> the modules it puts in INSTALLED_APPS (those with migrations).
THIRD_PARTY = {
    "python3-django-allauth": ["allauth", "allauth.account", "allauth.socialaccount"],
    "python3-django-axes": ["axes"],
    "python3-django-guardian": ["guardian"],
    "python3-django-oauth-toolkit": ["oauth2_provider"],
    "python3-django-reversion": ["reversion"],
    "python3-django-taggit": ["taggit"],
    "python3-django-organizations": ["organizations"],
    "python3-django-q": ["django_q"],
    "python3-django-invitations": ["invitations"],
    "python3-django-celery-beat": ["django_celery_beat"],
    "python3-django-celery-results": ["django_celery_results"],
    "python3-django-constance": ["constance", "constance.backends.database"],
    "python3-django-contrib-comments": ["django_comments"],
    "python3-django-otp": ["django_otp", "django_otp.plugins.otp_static",
                           "django_otp.plugins.otp_totp", "django_otp.plugins.otp_hotp",
                           "django_otp.plugins.otp_email"],
    "python3-django-waffle": ["waffle"],
    "python3-djangorestframework": ["rest_framework", "rest_framework.authtoken"],
    "python3-djangorestframework-api-key": ["rest_framework_api_key"],
    "python3-djangorestframework-simplejwt": ["rest_framework_simplejwt.token_blacklist"],
    "python3-django-cas-server": ["cas_server"],
    "python3-django-impersonate": ["impersonate"],
    "python3-django-health-check": ["health_check", "health_check.db"],
    "python3-django-mailman3": ["django_mailman3"],
    "python3-django-rest-hooks": ["rest_hooks"],
}

# Rules of both tools that judge one danger, by family: a statement flagged in a family by
# one tool and not by the other is a disagreement.
FAMILIES = {
    "index built under lock": {"require-concurrent-index-creation"},
    "index dropped under lock": {"require-concurrent-index-deletion"},
    "CONCURRENTLY in a transaction": {"ban-concurrently-in-transaction",
                                      "ban-concurrent-index-creation-in-transaction"},
    "NOT NULL column without default": {"adding-required-field"},
    "table rewrite": {"adding-field-with-volatile-default", "adding-field-that-rewrites-table",
                      "adding-field-with-default",
                      "changing-column-type", "ban-vacuum-full", "ban-cluster", "prefer-repack",
                      "ban-set-logged", "ban-set-tablespace"},
    "unique index under lock": {"disallowed-unique-constraint", "adding-serial-primary-key-field"},
    "validation scan under lock": {"constraint-missing-not-valid", "adding-foreign-key-constraint",
                                   "validate-in-same-transaction", "adding-exclusion-constraint",
                                   "domain-constraint-missing-not-valid",
                                   "ban-alter-domain-with-add-constraint"},
    "SET NOT NULL scan": {"setting-not-nullable-field", "adding-not-nullable-field"},
    "rename breaks running code": {"renaming-column", "renaming-table"},
    "drop breaks running code": {"ban-drop-column", "ban-drop-table", "ban-drop-database",
                                 "ban-drop-not-null"},
    "transaction control": {"transaction-control-in-step", "transaction-nesting",
                            "ban-uncommitted-transaction"},
    "truncate": {"ban-truncate", "ban-truncate-cascade"},
    "lock held through a back-fill": {"backfill-in-same-transaction"},
    "rolling deploy breaks inserts": {"dropping-default-breaks-running-inserts"},
}
# squawk's rules that do not judge a statement's danger to a running database.
NOT_COMPARED = {
    "require-lock-timeout": "tidemark sets lock_timeout on every step (policy.lockTimeout)",
    "require-statement-timeout": "tidemark sets statement_timeout on every step",
    "prefer-robust-stmts": "an atomic step is all or nothing; tidemark records it in the same "
                           "transaction, so a failed step is retried whole",
    "prefer-bigint-over-int": "a choice of type for new columns, not a danger of the migration",
    "prefer-bigint-over-smallint": "a choice of type for new columns",
    "prefer-identity": "a choice of type for new columns",
    "prefer-text-field": "a choice of type for new columns",
    "prefer-timestamptz": "a choice of type for new columns",
    "ban-char-field": "a choice of type for new columns",
}
# Settings some of those apps need before their models load.
APP_SETTINGS = {"HOOK_EVENTS": {}, "Q_CLUSTER": {"orm": "default", "timeout": 60, "retry": 120}}
# The families whose danger is a long lock on a table that has rows: PostgreSQL's judgement.
LOCK_FAMILIES = {"index built under lock", "table rewrite", "unique index under lock",
                 "validation scan under lock", "SET NOT NULL scan",
                 "NOT NULL column without default", "lock held through a back-fill"}
# A table's storage file and the sequential scans of it in this transaction.
TABLE_STATE = """SELECT c.relname, c.relfilenode, coalesce(s.seq_scan, 0) FROM pg_class c
  LEFT JOIN pg_stat_xact_user_tables s ON s.relid = c.oid
  WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace"""
RULE_FAMILY = {rule: family for family, rules in FAMILIES.items() for rule in rules}
STATEMENT = re.compile(r"^statement (\d+):")
ALTERED_TABLE = re.compile(r'^ALTER TABLE (?:ONLY )?"([^"]+)"')


def installed_apps():
    """The corpus's apps that this machine has, and the packages it lacks."""
    apps, missing = [], []
    for package, modules in THIRD_PARTY.items():
        if all(importlib.util.find_spec(m.split(".")[0]) for m in modules):
            apps += modules
        else:
            missing.append(package)
    return apps, missing


def write_settings(folder, apps):
    with open(os.path.join(folder, "lint_corpus_settings.py"), "w", encoding="utf-8") as out:
        out.write("from testproject.settings import *  # noqa: F401,F403\n"
                  "INSTALLED_APPS = %r\n" % (CONTRIB + apps + ["tidemark_django"]))
        for name, value in APP_SETTINGS.items():
            out.write("%s = %r\n" % (name, value))
    return {"DJANGO_SETTINGS_MODULE": "lint_corpus_settings",
            "PYTHONPATH": os.pathsep.join([folder, os.path.join(SOURCE_DIR, "tools", "django"),
                                           support.PROJECT_DIR])}


def family(rule):
    return RULE_FAMILY.get(rule, rule)


def tidemark_findings(tidemark, plan, pg_version):
    """{(step, statement): {family: rule}} from `tidemark lint`."""
    result = subprocess.run([tidemark, "lint", "-f", plan, "-o", "json", "--pg-version",
                             str(pg_version)], capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise SystemExit("tidemark lint: exit %d\n%s" % (result.returncode, result.stderr))
    found = collections.defaultdict(dict)
    for finding in json.loads(result.stdout):
        match = STATEMENT.match(finding["message"])
        statement = int(match.group(1)) if match else 0
        found[(finding["migration"], statement)][family(finding["rule"])] = finding["rule"]
    return found


def step_statements(tidemark, plan, label):
    result = subprocess.run([tidemark, "sql", label, "-f", plan, "-o", "json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["statements"]


def squawk_findings(squawk, folder, label, statements, atomic, pg_version):
    """{(step, statement): {family: rule}} from squawk over the step's statements."""
    first_lines, lines = [], 0
    path = os.path.join(folder, label + ".sql")
    with open(path, "w", encoding="utf-8") as out:
        for statement in statements:
            first_lines.append(lines)
            text = statement + ";\n"
            out.write(text)
            lines += text.count("\n")
    command = [squawk, "--reporter", "json", "--pg-version", "%d.0" % pg_version, path]
    if atomic:
        command.insert(1, "--assume-in-transaction")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise SystemExit("squawk on %s: exit %d\n%s" % (label, result.returncode, result.stderr))
    found = collections.defaultdict(dict)
    for finding in json.loads(result.stdout):
        if finding["rule_name"] in NOT_COMPARED:
            continue
        statement = sum(1 for first in first_lines if first <= finding["line"])
        found[(label, statement)][family(finding["rule_name"])] = finding["rule_name"]
    return found


def created_in_step(statements_of, step, statement):
    """True when the statement alters a table that an earlier statement of its step created."""
    altered = ALTERED_TABLE.match(statements_of[step][statement - 1])
    return bool(altered) and any(
        statements_of[step][earlier - 1].startswith('CREATE TABLE "%s"' % altered.group(1))
        for earlier in range(1, statement))


def heavy_statements(dsn, steps, statements_of):
    """{(step, statement): True when heavy} for the statements PostgreSQL could run, in the
    plan's order on an empty database: atomic steps in one transaction, as tidemark runs
    them (a non-atomic step's statements are not judged)."""
    heavy = {}
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            for step in steps:
                label = "%s.%s" % (step["app"], step["name"])
                statements = statements_of[label]
                if not step.get("atomic", True):
                    connection.autocommit = True
                    for statement in statements:
                        cursor.execute(statement)
                    connection.autocommit = False
                    continue
                cursor.execute(TABLE_STATE)
                before_step = {name: (node, scans) for name, node, scans in cursor.fetchall()}
                state = dict(before_step)
                for i, statement in enumerate(statements, 1):
                    cursor.execute(statement)
                    cursor.execute(TABLE_STATE)
                    now = {name: (node, scans) for name, node, scans in cursor.fetchall()}
                    heavy[(label, i)] = any(
                        name in before_step and name in state and now[name] != state[name]
                        for name in now)
                    state = now
                connection.commit()
    finally:
        connection.close()
    return heavy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squawk", required=True, help="the squawk binary (bench/README.md)")
    parser.add_argument("--tidemark", default=support.TIDEMARK)
    parser.add_argument("--json", help="write every disagreement to this file")
    args = parser.parse_args()
    apps, missing = installed_apps()
    version = subprocess.run([args.squawk, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    folder = tempfile.mkdtemp(prefix="tidemark-lint-corpus-")
    server = support.Server()
    try:
        pg_version = int(server.query("postgres", "SHOW server_version_num")[0][0]) // 10000
        env = write_settings(folder, apps)
        exported = support.run([support.PYTHON, "manage.py", "tidemark_export", "--name", "corpus",
                                "--python-steps", "RecordOnly"],
                               env=dict(os.environ, DATABASE_URL=server.create_database("corpus"),
                                        **env))
        documents = list(yaml.safe_load_all(exported.stdout))
        plan = os.path.join(folder, "plan.yaml")
        support.write_yaml(plan, documents)
        steps = documents[0]["spec"]["migrations"]
        ours = tidemark_findings(args.tidemark, plan, pg_version)
        judged = server.create_database("judged")
        theirs = {}
        statements_of = {}
        for step in steps:
            label = "%s.%s" % (step["app"], step["name"])
            sql = statements_of[label] = step_statements(args.tidemark, plan, label)
            if sql:
                theirs.update(squawk_findings(args.squawk, folder, label, sql,
                                              step.get("atomic", True), pg_version))
        heavy = heavy_statements(judged, steps, statements_of)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    report(steps, statements_of, apps, missing, version, pg_version, ours, theirs, heavy,
           args.json)


def judge(tool, found, heavy, statements_of):
    """Prints what PostgreSQL says of TOOL's lock findings, and the heavy statements it misses."""
    flagged = {key for key, families in found.items() if families.keys() & LOCK_FAMILIES}
    confirmed = sorted(key for key in flagged if heavy.get(key))
    alarms = sorted(key for key in flagged if heavy.get(key) is False)
    missed = sorted(key for key, is_heavy in heavy.items() if is_heavy and key not in flagged)
    print("%s: %d lock findings PostgreSQL confirms, %d false alarms, %d heavy statements missed"
          % (tool, len(confirmed), len(alarms), len(missed)))
    for kind, keys in (("false alarm", alarms), ("missed", missed)):
        for step, statement in keys:
            print("    %s: %s statement %d: %s" % (kind, step, statement,
                                                   statements_of[step][statement - 1][:150]))


def report(steps, statements_of, apps, missing, version, pg_version, ours, theirs, heavy,
           json_path):
    print("corpus: %d steps, %d statements, %d apps (%d third-party: %s)" % (
        len(steps), sum(map(len, statements_of.values())), len({s["app"] for s in steps}),
        len(apps), ", ".join(apps)))
    if missing:
        print("not installed, left out: %s" % ", ".join(missing))
    print("squawk: %s; PostgreSQL %d; squawk rules not compared: %s" % (
        version, pg_version, ", ".join(sorted(NOT_COMPARED))))
    pairs = lambda found: {(key, fam) for key, families in found.items() for fam in families}
    mine, other = pairs(ours), pairs(theirs)
    flagged = lambda found: {key for key, families in found.items() if families}
    print("statements flagged: tidemark %d, squawk %d, both %d" % (
        len(flagged(ours)), len(flagged(theirs)), len(flagged(ours) & flagged(theirs))))
    print("findings (statement, family): tidemark %d, squawk %d, both %d" % (
        len(mine), len(other), len(mine & other)))
    print("\nPostgreSQL's judgement: %d of %d statements heavy (rewrite or scan of an existing "
          "table); lock families: %s" % (sum(heavy.values()), len(heavy),
                                         ", ".join(sorted(LOCK_FAMILIES))))
    judge("tidemark", ours, heavy, statements_of)
    judge("squawk", theirs, heavy, statements_of)
    disagreements = []
    for tool, only, found in (("tidemark", mine - other, ours), ("squawk", other - mine, theirs)):
        groups = collections.defaultdict(list)
        for key, fam in sorted(only):
            groups[(fam, found[key][fam], created_in_step(statements_of, *key))].append(key)
        print("\nonly %s: %d" % (tool, len(only)))
        for (fam, rule, new), keys in sorted(groups.items(), key=lambda item: -len(item[1])):
            print("  %4d  %s (%s)%s, e.g. %s statement %d" % (
                len(keys), fam, rule, ", on a table created earlier in the step" if new else "",
                *keys[0]))
            disagreements += [{"only": tool, "family": fam, "rule": rule, "step": step,
                               "statement": statement, "table_created_in_step": new,
                               "sql": statements_of[step][statement - 1]}
                              for step, statement in keys]
    if json_path:
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump(disagreements, out, indent=1)


if __name__ == "__main__":
    main()
