"""What the Django bridge tests share: a private PostgreSQL, the test project's manage.py,
the exporter, the tidemark binary, and the comparisons (schema dump, ledger rows).

Every test module starts its own server with tools/pg-sandbox and stops it at the end.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile

import psycopg2
import yaml

SOURCE_DIR = os.environ.get("TIDEMARK_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY_DIR = os.environ.get("TIDEMARK_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
PROJECT_DIR = os.path.join(SOURCE_DIR, "tests", "django", "project")
PYTHON = "/usr/bin/python3"  # Debian's, with Django and psycopg2
TIDEMARK = os.path.join(BINARY_DIR, "bin", "tidemark")
PG_SANDBOX = os.path.join(SOURCE_DIR, "tools", "pg-sandbox")
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1]

# pg_dump's per-run random \restrict key (PostgreSQL 15.14+).
_DUMP_NOISE = re.compile(r"^\\(un)?restrict .*$", re.M)


class Server:
    """A private PostgreSQL server (tools/pg-sandbox) and databases on it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tidemark-django-")
        os.chmod(self.dir, 0o755)
        out = subprocess.run([PG_SANDBOX, "start", self.dir], check=True, capture_output=True, text=True)
        self.admin_dsn = out.stdout.strip().splitlines()[-1]

    def stop(self):
        subprocess.run([PG_SANDBOX, "stop", self.dir], check=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, dbname):
        return re.sub(r"dbname=\S+", "dbname=" + dbname, self.admin_dsn)

    def create_database(self, dbname):
        connection = psycopg2.connect(self.admin_dsn)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute('DROP DATABASE IF EXISTS "%s"' % dbname)
            cursor.execute('CREATE DATABASE "%s"' % dbname)
        connection.close()
        return self.dsn(dbname)

    def databases(self):
        return set(r[0] for r in self.query("postgres", "SELECT datname FROM pg_database"))

    def query(self, dbname, sql):
        """Runs SQL in autocommit; returns the rows, if any."""
        connection = psycopg2.connect(self.dsn(dbname))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def ledger(self, dbname):
        """The (app, name) rows of django_migrations, sorted."""
        return sorted(self.query(dbname, "SELECT app, name FROM django_migrations"))

    def schema(self, dbname, exclude=("tidemark_history*",)):
        """pg_dump --schema-only, without pg_dump's random token and our audit table."""
        command = [os.path.join(PG_BIN, "pg_dump"), "--schema-only", "--no-owner", "-d", self.dsn(dbname)]
        for pattern in exclude:
            command += ["--exclude-table", pattern]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        return _DUMP_NOISE.sub("", out.stdout)


# The test project with the stock app (expand, back-fill, contract): the runner's tests.
RUNNER_SETTINGS = {"DJANGO_SETTINGS_MODULE": "testproject.settings_runner"}


def seed_stock_items(server, dbname, rows):
    """ROWS items in stock_item (name itemN, quantity N mod 7) before its code column exists."""
    server.query(dbname, "INSERT INTO stock_item (name, quantity) SELECT 'item' || i, i %% 7 "
                         "FROM generate_series(1, %d) AS i" % rows)


def run(command, env=None, check=True):
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_DIR)
    if check and result.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(command), result.returncode, result.stdout, result.stderr))
    return result


def manage(dsn, *args, check=True, env=None):
    """Runs the test project's manage.py against DSN (ENV: more environment variables)."""
    env = dict(os.environ, **(env or {}), DATABASE_URL=dsn,
               PYTHONPATH=os.pathsep.join([os.path.join(SOURCE_DIR, "tools", "django"), PROJECT_DIR]))
    return run([PYTHON, "manage.py"] + list(args), env=env, check=check)


def export(dsn, *args):
    """manage.py tidemark_export ARGS; returns (YAML documents, stderr)."""
    result = manage(dsn, "tidemark_export", *args)
    return list(yaml.safe_load_all(result.stdout)), result.stderr


def tidemark(*args, check=True):
    if not os.access(TIDEMARK, os.X_OK):
        raise AssertionError("the tidemark binary %s is missing: build it with tools/build" % TIDEMARK)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return run([TIDEMARK] + list(args), env=env, check=check)


def replay(dsn, steps, direction):
    """Runs each step's DIRECTION script with psycopg2: atomic ones in a transaction, others
    in autocommit (each of the test project's non-atomic steps holds a single statement).
    A stand-in for history (a database migrated before a squash existed) and a check of the
    exported SQL that does not depend on tidemark."""
    connection = psycopg2.connect(dsn)
    try:
        for step in steps:
            script = step[direction]
            if not script:
                continue
            connection.autocommit = not step["atomic"]
            with connection.cursor() as cursor:
                cursor.execute(script)
            if step["atomic"]:
                connection.commit()
    finally:
        connection.close()


def steps_by_label(plan):
    return {"%s.%s" % (s["app"], s["name"]): s for s in plan["spec"]["migrations"]}


def write_yaml(path, documents):
    with open(path, "w", encoding="utf-8") as output:
        yaml.safe_dump_all(documents, output, sort_keys=False)


def read_yaml(path):
    with open(path, encoding="utf-8") as text:
        return list(yaml.safe_load_all(text))
