"""Captures the SQL Django really runs for each migration.

Method: create an empty scratch database beside the project's own, point the connection
alias at it, run every migration forwards with Django's own executor (as `migrate` does),
then unapply them all in reverse order (as `migrate APP zero` does). Every statement that a
schema editor executes is recorded, in execution order (deferred SQL included), exactly as
the driver sent it to PostgreSQL (parameters interpolated; `last_executed_query`).
Statements that Django runs outside a schema editor are not SQL of the migration: the
ledger writes, the catalogue look-ups of introspection, and the ORM work of RunPython
code; writes among them mark the step as `python`.

Squashed migrations: a fresh database takes the squash path, so a second scratch run with
the squashes removed captures the migrations they replace.

Not thread-safe: it repoints a connection alias and patches the schema editor class while
it runs, and restores both.
"""

import contextlib
import dataclasses
import datetime
import os
import re
from typing import Dict, List, Optional, Tuple

from django.db import connections
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RenameModel, RunPython, SeparateDatabaseAndState
from django.utils import timezone as django_timezone

from .lookups import NameLookup, lookup_from_call

Key = Tuple[str, str]

# First words of statements that change nothing: reads, transaction control, settings.
_HARMLESS_VERBS = {"SELECT", "SHOW", "SET", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"}
_LEADING_NOISE = re.compile(r"^(\s+|--[^\n]*\n|/\*.*?\*/|\()*", re.S)


class ExportError(Exception):
    """The export cannot produce a faithful plan; the message says why."""


@dataclasses.dataclass
class Step:
    app: str
    name: str
    dependencies: List[str]
    atomic: bool
    replaces: List[str]
    forward: List[str] = dataclasses.field(default_factory=list)
    backward: Optional[List[str]] = None  # None: irreversible
    irreversible_reason: Optional[str] = None  # why backward is None
    unapply_failed: bool = False  # Django tried to unapply it on the scratch database and failed
    python_reasons: List[str] = dataclasses.field(default_factory=list)
    initial: Optional[bool] = None  # Django's Migration.initial, when the migration says
    phase: str = "PreDeploy"  # or PostDeploy: runs once the app's rollout is done

    @property
    def key(self) -> Key:
        return (self.app, self.name)


def _label(key: Key) -> str:
    return "%s.%s" % key


def _is_write(statement: str) -> bool:
    words = _LEADING_NOISE.sub("", statement).split(None, 1)
    return bool(words) and words[0].upper() not in _HARMLESS_VERBS


def _code_reasons(operations, contenttypes_installed: bool) -> List[str]:
    """Why these operations have effects that their SQL cannot carry."""
    reasons = []
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            reasons += _code_reasons(operation.database_operations, contenttypes_installed)
        elif isinstance(operation, RunPython):
            for direction, code in (("forward", operation.code), ("backward", operation.reverse_code)):
                if code is not None and code is not RunPython.noop:
                    reasons.append("RunPython %s code %s.%s" % (
                        direction, getattr(code, "__module__", "?"), getattr(code, "__qualname__", repr(code))))
        elif isinstance(operation, RenameModel) and contenttypes_installed:
            # django.contrib.contenttypes injects RenameContentType (a RunPython) before
            # `migrate` runs a RenameModel on a database whose contenttypes are migrated.
            reasons.append("RenameModel %s -> %s: contenttypes renames the ContentType row in Python"
                           % (operation.old_name, operation.new_name))
    return reasons


class _Recorder:
    """Sorts the statements of one scratch run by migration and direction."""

    def __init__(self):
        self.current: Optional[Tuple[Key, str]] = None
        self.editor_depth = 0
        # Each entry is a statement as sent, or a NameLookup whose statements found their
        # object's name in the catalogue (written as one DO block).
        self.sql: Dict[Tuple[Key, str], List[object]] = {}
        # The last look-up; Django runs the statements that use its names right after it.
        self.open_lookup: Optional[NameLookup] = None
        self.writes_outside: Dict[Tuple[Key, str], List[str]] = {}

    def progress(self, action, migration=None, fake=False):
        if action in ("apply_start", "unapply_start"):
            direction = "forward" if action == "apply_start" else "backward"
            self.current = ((migration.app_label, migration.name), direction)
            self.sql.setdefault(self.current, [])
        elif action in ("apply_success", "unapply_success"):
            self.current = None
        self.open_lookup = None

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if self.current is not None:
            # The text PostgreSQL received, parameters interpolated (psycopg2's cursor.query).
            sent = context["connection"].ops.last_executed_query(context["cursor"].cursor, sql, params) or str(sql)
            if self.editor_depth:
                self._record(sent)
            elif _is_write(sent) and "django_migrations" not in sent:
                self.writes_outside.setdefault(self.current, []).append(sent)
        return result

    def _record(self, sent: str):
        statements = self.sql[self.current]
        lookup = self.open_lookup
        if lookup is not None and lookup.take(sent):
            if not statements or statements[-1] is not lookup:
                statements.append(lookup)
            return
        self.open_lookup = None
        statements.append(sent)

    def looked_up(self, lookup: NameLookup):
        self.open_lookup = lookup if self.current is not None else None


@contextlib.contextmanager
def _patched_editor(connection, recorder: _Recorder):
    """Marks the statements a schema editor executes, whatever the operation class, and
    the catalogue look-ups of names that its statements then use."""
    editor_class = connection.SchemaEditorClass
    original_execute = editor_class.execute
    original_names = editor_class._constraint_names
    original_composed = editor_class._delete_composed_index
    exactly_one = []  # set while _delete_composed_index runs: Django wants one name

    def execute(editor, sql, params=()):
        recorder.editor_depth += 1
        try:
            return original_execute(editor, sql, params)
        finally:
            recorder.editor_depth -= 1

    def constraint_names(editor, model, column_names=None, **kwargs):
        found = original_names(editor, model, column_names, **kwargs)
        recorder.looked_up(lookup_from_call(model._meta.db_table, column_names, kwargs, bool(exactly_one), found))
        return found

    def delete_composed_index(editor, *args, **kwargs):
        exactly_one.append(True)
        try:
            return original_composed(editor, *args, **kwargs)
        finally:
            exactly_one.pop()

    editor_class.execute = execute
    editor_class._constraint_names = constraint_names
    editor_class._delete_composed_index = delete_composed_index
    try:
        with connection.execute_wrapper(recorder):
            yield
    finally:
        editor_class.execute = original_execute
        editor_class._constraint_names = original_names
        editor_class._delete_composed_index = original_composed


@contextlib.contextmanager
def scratch_database(alias: str, name: str, keep: bool):
    """Creates the empty database NAME on the alias's server and points the alias at it."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        raise ExportError("database alias %r is %s; tidemark runs on PostgreSQL" % (alias, connection.vendor))
    quoted = connection.ops.quote_name(name)
    original_name = connection.settings_dict["NAME"]
    if name == original_name:
        raise ExportError("the scratch database must not be the project's database %r" % name)
    with connection._nodb_cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS %s" % quoted)
        cursor.execute("CREATE DATABASE %s" % quoted)
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield connection
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original_name
        if not keep:
            with connection._nodb_cursor() as cursor:
                cursor.execute("DROP DATABASE IF EXISTS %s" % quoted)


# Defaults computed when a migration runs (timezone.now, Django's one-off default for a new
# NOT NULL column) end up as literals in the SQL; a fixed clock keeps the export repeatable.
DEFAULT_CLOCK = datetime.datetime(1970, 1, 1)


@contextlib.contextmanager
def frozen_clock(instant: datetime.datetime):
    """Makes django.utils.timezone.now() return INSTANT (naive UTC) while capturing."""
    real = django_timezone.datetime

    class Frozen(real):
        @classmethod
        def utcnow(cls):
            return real(instant.year, instant.month, instant.day, instant.hour, instant.minute,
                        instant.second, instant.microsecond)

        @classmethod
        def now(cls, tz=None):
            moment = cls.utcnow()
            return moment.replace(tzinfo=datetime.timezone.utc).astimezone(tz) if tz else moment

    django_timezone.datetime = Frozen
    try:
        yield
    finally:
        django_timezone.datetime = real


# A reason is one line of at most this many characters (database errors run to several).
_REASON_CHARS = 300


def _one_line(text: str) -> str:
    line = " ".join(text.strip().splitlines()[:1]) or "no message"
    return line if len(line) <= _REASON_CHARS else line[:_REASON_CHARS - 3] + "..."


@dataclasses.dataclass
class _Irreversible:
    reason: str
    failed: bool  # unapplying was tried and failed (rather than refused up front)


def _irreversible_operation(migration) -> Optional[str]:
    """Why Django would refuse to unapply MIGRATION before running anything, if it would."""
    for operation in migration.operations:
        if not operation.reversible:
            return _one_line("operation %s is not reversible (%s)" % (type(operation).__name__, operation.describe()))
    return None


def _unapply(executor, state, migration, recorder: "_Recorder",
             irreversible: Dict[Key, _Irreversible]) -> Optional[_Irreversible]:
    """Unapplies MIGRATION on the scratch database; returns why it could not, if it could not.

    A failed unapply leaves the migration applied (an atomic one rolls back) and its partial
    SQL is dropped, so the capture goes on with the other migrations: one broken way back
    costs the others nothing."""
    key = (migration.app_label, migration.name)
    try:
        executor.unapply_migration(state, migration)
        return None
    except (IrreversibleError, NotImplementedError) as error:
        outcome = _Irreversible(_one_line("Django cannot unapply it: %s" % (error or type(error).__name__)), False)
    except Exception as error:  # noqa: BLE001: SQL and Python errors alike, as migrate shows them
        reason = "unapplying it failed on the scratch database: %s: %s" % (type(error).__name__, error)
        # Its own app's later migrations that stayed applied may be why.
        kept = [_label(k) for k in sorted(irreversible) if k[0] == key[0]]
        if kept:
            reason = "%s (still applied there: %s)" % (_one_line(reason), ", ".join(kept))
        outcome = _Irreversible(_one_line(reason), True)
    recorder.current = None
    recorder.sql.pop((key, "backward"), None)
    recorder.writes_outside.pop((key, "backward"), None)
    return outcome


def _run(connection, loader: Optional[MigrationLoader]) -> Tuple[_Recorder, List[Key], Dict[Key, _Irreversible]]:
    """Migrates the (empty) scratch database forwards, then back to zero, recording.

    Returns the recorder, the forward order and, for each migration that could not be
    unapplied, why."""
    recorder = _Recorder()
    executor = MigrationExecutor(connection, progress_callback=recorder.progress)
    if loader is not None:
        executor.loader = loader
    conflicts = executor.loader.detect_conflicts()
    if conflicts:
        raise ExportError("conflicting migrations (run makemigrations --merge): %s" % "; ".join(
            "%s: %s" % (app, ", ".join(sorted(names))) for app, names in sorted(conflicts.items())))
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    order = [migration for migration, _ in plan]
    irreversible: Dict[Key, _Irreversible] = {}
    with _patched_editor(connection, recorder):
        try:
            executor.migrate(executor.loader.graph.leaf_nodes(), plan=plan)
        except Exception as error:
            where = _label(recorder.current[0]) if recorder.current else "the scratch database"
            raise ExportError("applying %s on the scratch database failed: %s" % (where, error)) from error
        # The states before each migration, as Django's _migrate_all_backwards builds them.
        states = {}
        state = executor._create_project_state()
        for migration in order:
            state.apps  # render now, as Django does, so unapply sees the same models
            states[migration] = state
            state = migration.mutate_state(state, preserve=True)
        for migration in reversed(order):
            key = (migration.app_label, migration.name)
            refused = _irreversible_operation(migration)
            outcome = (_Irreversible(refused, False) if refused
                       else _unapply(executor, states[migration], migration, recorder, irreversible))
            if outcome is not None:
                irreversible[key] = outcome
    return recorder, [(m.app_label, m.name) for m in order], irreversible


def _declared_graph() -> MigrationLoader:
    """Every migration on disk, squashes and what they replace alike, with dependencies
    resolved (swappable models, __first__/__latest__, run_before)."""
    return MigrationLoader(None, replace_migrations=False)


def capture(alias: str, scratch_name: str, keep_scratch: bool = False,
            clock: datetime.datetime = DEFAULT_CLOCK) -> List[Step]:
    """Returns every migration of the project as a Step, in Django's order."""
    with frozen_clock(clock):
        return _capture(alias, scratch_name, keep_scratch)


def _capture(alias: str, scratch_name: str, keep_scratch: bool) -> List[Step]:
    from django.apps import apps as installed_apps

    declared = _declared_graph()
    graph = declared.graph
    contenttypes_installed = installed_apps.is_installed("django.contrib.contenttypes")

    with scratch_database(alias, scratch_name, keep_scratch) as connection:
        main, main_order, main_irreversible = _run(connection, None)
    replaced = {k for m in declared.replacements.values() for k in m.replaces if k in graph.nodes}
    runs = [(main, main_irreversible)]
    if replaced:
        without_squashes = MigrationLoader(None, replace_migrations=False, load=True)
        for key, migration in declared.replacements.items():
            without_squashes.graph.remove_replacement_node(key, migration.replaces)
        without_squashes.replacements = {}
        with scratch_database(alias, scratch_name, keep_scratch) as connection:
            without_squashes.connection = connection
            without_squashes.applied_migrations = {}
            second, _, second_irreversible = _run(connection, without_squashes)
        runs.append((second, second_irreversible))

    # Django's own order on a fresh database; what a squash replaces follows the squash.
    order = []
    for key in main_order:
        order.append(key)
        if key in declared.replacements:
            order += [tuple(r) for r in declared.replacements[key].replaces if tuple(r) in replaced]

    steps = []
    for key in order:
        migration = graph.nodes[key]
        recorder, irreversible = runs[1] if key in replaced else runs[0]
        if (key, "forward") not in recorder.sql:
            raise ExportError("%s is not in Django's plan for a fresh database, so its SQL "
                              "could not be captured" % _label(key))
        step = Step(
            app=key[0], name=key[1],
            dependencies=sorted(_label(parent.key) for parent in graph.node_map[key].parents),
            atomic=bool(migration.atomic),
            initial=migration.initial,
            phase=_phase(migration),
            replaces=[_label(tuple(r)) for r in migration.replaces],
            forward=[str(s) for s in recorder.sql[(key, "forward")]],
            backward=None if key in irreversible else [str(s) for s in recorder.sql.get((key, "backward"), [])],
        )
        if key in irreversible:
            step.irreversible_reason = irreversible[key].reason
            step.unapply_failed = irreversible[key].failed
        step.python_reasons = _code_reasons(migration.operations, contenttypes_installed)
        for direction in ("forward", "backward"):
            for statement in recorder.writes_outside.get((key, direction), []):
                step.python_reasons.append("%s code ran SQL outside the schema editor: %s"
                                           % (direction, statement.strip().splitlines()[0][:120]))
        steps.append(step)
    return steps


# The ledger's id column as Django's recorder creates it (its model's automatic primary key,
# of DEFAULT_AUTO_FIELD's type), in the plan's words (spec.ledger.idType).
_LEDGER_ID_TYPES = {"AutoField": "integer", "BigAutoField": "bigint", "SmallAutoField": "smallint"}


def ledger_id_type() -> str:
    from django.db.migrations.recorder import MigrationRecorder

    field = MigrationRecorder.Migration._meta.pk
    id_type = _LEDGER_ID_TYPES.get(field.get_internal_type())
    if id_type is None:
        raise ExportError("django_migrations.id would be a %s (DEFAULT_AUTO_FIELD); tidemark creates "
                          "the ledger with an AutoField, BigAutoField or SmallAutoField id"
                          % field.get_internal_type())
    return id_type


def _phase(migration) -> str:
    """The step's phase: `tidemark_phase` when the migration sets it, else PostDeploy for the
    `is_post_deployment = True` convention some projects already follow."""
    declared = getattr(migration, "tidemark_phase", None)
    if declared is None:
        return "PostDeploy" if getattr(migration, "is_post_deployment", False) is True else "PreDeploy"
    if declared not in ("PreDeploy", "PostDeploy"):
        raise ExportError("%s.%s: tidemark_phase = %r; write \"PreDeploy\" or \"PostDeploy\""
                          % (migration.app_label, migration.name, declared))
    return declared


def default_scratch_name(alias: str) -> str:
    base = connections[alias].settings_dict["NAME"] or "django"
    return ("%s_tidemark_scratch_%d" % (base, os.getpid()))[:63]
