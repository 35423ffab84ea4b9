"""`manage.py tidemark_step`: one migration run by Django's own executor, for tidemark's runner.

    tidemark_step apply APP NAME    apply exactly that migration
    tidemark_step revert APP NAME   unapply exactly that migration
    tidemark_step post-migrate      emit post_migrate as `migrate` does, applying nothing

`apply` and `revert` take `--post-migrate`: then post_migrate follows the step in the same
process, as it follows `migrate` (tidemark asks so for the last step of a run, saving a
second start of Django).

tidemark holds its ledger lock while it runs this and reads django_migrations afterwards
(docs/django.md, "Python steps"). The executor writes the ledger row itself, in the
migration's transaction when the migration is atomic. A step that is already in the asked
state, or that needs another migration to run first, is refused with exit code 3 and the
database is left as it was. With `--post-migrate`, a step done whose post_migrate then fails
exits with code 4.
"""

import time
import traceback
from importlib import import_module

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ModelState
from django.utils.module_loading import module_has_submodule

# Exit code of a refusal: nothing was changed, the step is not in a state to run.
REFUSED = 3
# Exit code of `--post-migrate` when the step was done and post_migrate failed after it.
POST_MIGRATE_FAILED = 4


def _label(key):
    return "%s.%s" % key


def _refuse(message):
    return CommandError(message + "; nothing was changed", returncode=REFUSED)


def _register_signal_handlers():
    """Imports each app's `management` module, as `migrate` does, so that its pre_migrate and
    post_migrate handlers are connected (contenttypes' and auth's live there)."""
    for app_config in apps.get_app_configs():
        if module_has_submodule(app_config.module, "management"):
            import_module(".management", app_config.name)


class Command(BaseCommand):
    help = ("Applies or unapplies exactly one migration with Django's executor, or emits "
            "post_migrate; run by tidemark for steps with Python code.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS,
                            help="Database alias to migrate (default: %(default)s).")
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for name, text in (("apply", "apply exactly this migration"),
                           ("revert", "unapply exactly this migration")):
            action = actions.add_parser(name, help=text)
            action.add_argument("app_label")
            action.add_argument("migration_name", help="the migration's full name, e.g. 0003_book_slug")
            action.add_argument("--post-migrate", action="store_true",
                                help="then emit post_migrate, as migrate does after its migrations")
        actions.add_parser("post-migrate", help="emit post_migrate as migrate does, applying nothing")

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        connection = connections[options["database"]]
        connection.prepare_database()
        _register_signal_handlers()
        executor = MigrationExecutor(connection)
        executor.loader.check_consistent_history(connection)
        if options["action"] == "post-migrate":
            self._post_migrate(executor.migrate([], plan=[]), connection.alias, plan=[])
            return
        key = (options["app_label"], options["migration_name"])
        migration = self._migration(executor, key)
        started = time.monotonic()
        if options["action"] == "apply":
            state, plan = self._apply(executor, connection.alias, key, migration)
        else:
            state, plan = self._revert(executor, key, migration)
        done = "applied" if options["action"] == "apply" else "reverted"
        self.stdout.write("%s %s (%.3fs)" % (done, _label(key), time.monotonic() - started))
        if options["post_migrate"]:
            try:
                self._post_migrate(state, connection.alias, plan)
            except Exception as error:  # any handler's failure; the step stays done
                self.stderr.write(traceback.format_exc())
                raise CommandError("migration %s was %s, but post_migrate failed after it: %s" % (
                    _label(key), done, error), returncode=POST_MIGRATE_FAILED) from error

    def _migration(self, executor, key):
        if key not in executor.loader.disk_migrations:
            raise CommandError("no migration %s in this project (is the deployed code the code the "
                               "plan was exported from?)" % _label(key))
        if key not in executor.loader.graph.nodes:
            replacing = [_label(k) for k, m in executor.loader.disk_migrations.items() if key in m.replaces]
            raise _refuse("migration %s is replaced by %s in this database's migration graph" % (
                _label(key), ", ".join(replacing) or "a squash"))
        return executor.loader.graph.nodes[key]

    def _apply(self, executor, alias, key, migration):
        if key in executor.loader.applied_migrations:
            raise _refuse("migration %s is already applied" % _label(key))
        plan = executor.migration_plan([key])
        others = [_label((m.app_label, m.name)) for m, _ in plan if (m.app_label, m.name) != key]
        if others:
            raise _refuse("migration %s needs %s applied first" % (_label(key), ", ".join(others)))
        # As `migrate` does: pre_migrate handlers may add operations to the plan's
        # migrations (contenttypes renames its rows after a RenameModel).
        state = executor._create_project_state(with_applied_migrations=True)
        emit_pre_migrate_signal(self.verbosity, False, alias, apps=state.apps, plan=plan)
        return executor.migrate([key], plan=plan, state=state.clone()), plan

    def _revert(self, executor, key, migration):
        if key not in executor.loader.applied_migrations:
            raise _refuse("migration %s is not applied" % _label(key))
        dependents = sorted(_label(child.key) for child in executor.loader.graph.node_map[key].children
                            if child.key in executor.loader.applied_migrations)
        if dependents:
            raise _refuse("migration %s cannot be unapplied before %s, which depend on it" % (
                _label(key), ", ".join(dependents)))
        irreversible = [str(op) for op in migration.operations if not op.reversible]
        if irreversible:
            raise _refuse("migration %s is irreversible (%s)" % (_label(key), irreversible[0]))
        plan = [(migration, True)]
        return executor.migrate([key], plan=plan), plan

    def _post_migrate(self, state, alias, plan):
        # What `migrate` does after its plan: the state the executor returned (that of the
        # applied migrations), its real apps' models re-rendered with their relations, then the
        # signal, with the plan that ran.
        state.clear_delayed_apps_cache()
        post_migrate_apps = state.apps
        with post_migrate_apps.bulk_update():
            model_keys = []
            for model_state in post_migrate_apps.real_models:
                model_key = model_state.app_label, model_state.name_lower
                model_keys.append(model_key)
                post_migrate_apps.unregister_model(*model_key)
        post_migrate_apps.render_multiple([ModelState.from_model(apps.get_model(*m)) for m in model_keys])
        emit_post_migrate_signal(self.verbosity, False, alias, apps=post_migrate_apps, plan=plan)
        self.stdout.write("post_migrate emitted")
