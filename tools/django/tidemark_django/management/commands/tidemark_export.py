"""`manage.py tidemark_export`: the project's migrations as a tidemark MigrationPlan."""

import argparse
import datetime
import os
import shlex
import sys

from django.conf import settings

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from tidemark_django.capture import DEFAULT_CLOCK, ExportError, capture, default_scratch_name, ledger_id_type
from tidemark_django.plan import DEFAULT_CONFIGMAP_BYTES, PlanOptions, render


def _utc_instant(text):
    try:
        instant = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 time: %r" % text)
    if instant.tzinfo:
        instant = instant.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return instant


def _closure(steps, app_labels):
    """The steps of APP_LABELS and every step they need (with the squashes that replace
    any of them), in the original order."""
    by_label = {"%s.%s" % s.key: s for s in steps}
    squash_of = {replaced: label for label, s in by_label.items() for replaced in s.replaces}
    wanted = set()
    todo = [label for label, s in by_label.items() if s.app in app_labels]
    while todo:
        label = todo.pop()
        if label in wanted or label not in by_label:
            continue
        wanted.add(label)
        todo += by_label[label].dependencies + by_label[label].replaces
        if label in squash_of:
            todo.append(squash_of[label])
    return [s for s in steps if "%s.%s" % s.key in wanted]


class Command(BaseCommand):
    help = ("Writes the project's migrations as a tidemark MigrationPlan, with the SQL Django "
            "runs for each, captured by migrating a scratch database forwards and back.")

    def add_arguments(self, parser):
        parser.add_argument("app_label", nargs="*",
                            help="Export these apps' migrations and every migration they depend on "
                                 "(default: every app).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS,
                            help="Database alias whose server hosts the scratch database and whose "
                                 "routers decide what runs (default: %(default)s).")
        parser.add_argument("--scratch-database", metavar="NAME",
                            help="Name of the scratch database (created, then dropped; default: "
                                 "<NAME>_tidemark_scratch_<pid>). Its contents are destroyed.")
        parser.add_argument("--keep-scratch", action="store_true",
                            help="Leave the scratch database behind for inspection.")
        parser.add_argument("--clock", type=_utc_instant, default=DEFAULT_CLOCK,
                            help="The time django.utils.timezone.now() returns while capturing, so that "
                                 "defaults computed at run time are the same in every export "
                                 "(ISO 8601, UTC; default: 1970-01-01T00:00:00).")
        parser.add_argument("--name", default="django", help="metadata.name of the plan.")
        parser.add_argument("--namespace", default="default", help="metadata.namespace of the plan.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--dsn-secret", metavar="SECRET[:KEY]",
                            help="spec.database.dsnFrom.secretKeyRef (key defaults to dsn; default "
                                 "secret: <name>-db).")
        source.add_argument("--dsn-env", metavar="VAR", help="spec.database.dsnFrom.env (tidemark run only).")
        source.add_argument("--dsn-file", metavar="PATH", help="spec.database.dsnFrom.file (tidemark run only).")
        parser.add_argument("--schema", help="spec.database.schema (search_path of the steps and ledger).")
        parser.add_argument("--python-steps", choices=["Block", "RecordOnly", "Run"],
                            help="Set spec.policy.pythonSteps (Run also writes spec.runner).")
        parser.add_argument("--runner-command", metavar="COMMAND",
                            help="spec.runner.command, split like a shell does (default: this "
                                 "interpreter and manage.py, then tidemark_step).")
        parser.add_argument("--runner-image", metavar="IMAGE",
                            help="spec.runner.jobTemplate instead: a Job of this image running "
                                 "--runner-command (default: python manage.py tidemark_step).")
        parser.add_argument("--configmaps", action="store_true",
                            help="Put the steps in ConfigMaps <name>-migrations-N, each under "
                                 "--configmap-bytes, referenced by spec.migrationsFrom.")
        parser.add_argument("--configmap-bytes", type=int, default=DEFAULT_CONFIGMAP_BYTES,
                            help="Most data bytes per ConfigMap (default: %(default)s).")
        parser.add_argument("-o", "--output", default="-", help="File to write (default: standard output).")

    def _database_reference(self, options):
        if options["dsn_env"]:
            source = {"env": options["dsn_env"]}
        elif options["dsn_file"]:
            source = {"file": options["dsn_file"]}
        else:
            secret, _, key = (options["dsn_secret"] or "%s-db" % options["name"]).partition(":")
            source = {"secretKeyRef": {"name": secret, "key": key or "dsn"}}
        database = {"dsnFrom": source}
        if options["schema"]:
            database["schema"] = options["schema"]
        return database

    def _runner(self, options):
        """spec.runner for --python-steps Run: a command for tidemark run/apply, or a Job
        template for the controller; the settings module that ran the export goes with it."""
        env = [{"name": "DJANGO_SETTINGS_MODULE", "value": settings.SETTINGS_MODULE}]
        if options["runner_image"]:
            command = shlex.split(options["runner_command"] or "python manage.py tidemark_step")
            container = {"name": "app", "image": options["runner_image"], "command": command, "env": env}
            return {"jobTemplate": {"spec": {"template": {"spec": {"containers": [container],
                                                                   "restartPolicy": "Never"}}}}}
        if options["runner_command"]:
            command = shlex.split(options["runner_command"])
        else:
            command = [sys.executable, os.path.abspath(sys.argv[0]), "tidemark_step"]
        return {"command": command, "env": env}

    def handle(self, *args, **options):
        if (options["runner_command"] or options["runner_image"]) and options["python_steps"] != "Run":
            raise CommandError("--runner-command and --runner-image go with --python-steps Run")
        labels = set(options["app_label"])
        for label in labels:
            try:
                apps.get_app_config(label)
            except LookupError as error:
                raise CommandError(str(error))
        alias = options["database"]
        scratch = options["scratch_database"] or default_scratch_name(alias)
        try:
            steps = capture(alias, scratch, keep_scratch=options["keep_scratch"], clock=options["clock"])
            id_type = ledger_id_type()
        except ExportError as error:
            raise CommandError(str(error))
        if labels:
            missing = labels - {s.app for s in steps}
            if missing:
                raise CommandError("no migrations for: %s" % ", ".join(sorted(missing)))
            steps = _closure(steps, labels)
        plan_options = PlanOptions(
            name=options["name"], namespace=options["namespace"],
            database=self._database_reference(options), python_steps=options["python_steps"],
            ledger_id_type=id_type,
            runner=self._runner(options) if options["python_steps"] == "Run" else None,
            configmaps=options["configmaps"], configmap_bytes=options["configmap_bytes"])
        try:
            text = render(steps, plan_options)
        except ExportError as error:
            raise CommandError(str(error))
        if options["output"] == "-":
            sys.stdout.write(text)
        else:
            with open(options["output"], "w", encoding="utf-8") as output:
                output.write(text)
        for step in steps:
            for reason in step.python_reasons:
                self.stderr.write("python: %s.%s: %s" % (step.app, step.name, reason))
        for step in steps:
            if step.backward is None and step.unapply_failed:
                self.stderr.write("irreversible: %s.%s: %s" % (step.app, step.name, step.irreversible_reason))
        irreversible = [s for s in steps if s.backward is None]
        self.stderr.write("tidemark_export: %d steps (%d irreversible, %d whose unapply failed, %d python) %s" % (
            len(steps), len(irreversible), sum(1 for s in irreversible if s.unapply_failed),
            sum(1 for s in steps if s.python_reasons),
            "" if options["output"] == "-" else "written to %s" % options["output"]))
