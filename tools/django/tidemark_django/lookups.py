"""Statements whose object names Django looks up in the live catalogue.

When a migration drops or changes a constraint or an index that Django did not name in the
model (`unique_together`, `index_together`, a field's `unique` or `db_index`, a foreign key,
a field's check constraint), the schema editor asks the catalogue for the names first
(`BaseDatabaseSchemaEditor._constraint_names`: the table, the columns, and the kind), then
runs one statement per name found. A name frozen from the scratch database is wrong on a
database whose names differ (built by an older Django, reverted and applied again after a
rename, renamed by hand), so such statements are written as a `DO` block that finds the
names when it runs, by the same rule as Django's introspection
(`DatabaseIntrospection.get_constraints` for PostgreSQL), and runs the statement for each.
Where Django insists on exactly one (`_delete_composed_index`), the block raises Django's
error, naming the table and columns, when it finds none or several.
"""

import dataclasses
from typing import Dict, List, Optional, Sequence

# The dollar-quote tag of the blocks; a statement that holds it keeps its frozen name.
_TAG = "$tidemark$"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclasses.dataclass
class NameLookup:
    """One call of _constraint_names and the statements that used its answer."""

    table: str
    columns: Optional[List[str]]  # None: any columns (the primary key lookup)
    filters: Dict[str, object]  # unique, primary_key, index, check, foreign_key, type_
    exclude: List[str]  # names the model itself gives (Meta.constraints, Meta.indexes)
    exactly_one: bool  # Django raises unless exactly one is found
    found: List[str]  # what the scratch database answered
    unused: List[str] = dataclasses.field(default_factory=list)  # names no statement used yet
    template: Optional[str] = None  # the statement, the name replaced by %1$I

    def __post_init__(self):
        self.unused = list(self.found)

    def take(self, statement: str) -> bool:
        """Whether STATEMENT is the one Django runs for a name this lookup found."""
        for name in self.unused:
            if _quoted(name) not in statement or _TAG in statement:
                continue
            template = statement.replace("%", "%%").replace(_quoted(name), "%1$I")
            if self.template is not None and template != self.template:
                return False
            self.template = template
            self.unused.remove(name)
            return True
        return False

    def describe(self) -> str:
        """What Django searches for, in words: the block's comment."""
        kinds = []
        for key, word in (("unique", "unique"), ("primary_key", "primary key"), ("index", "index"),
                          ("check", "check"), ("foreign_key", "foreign key")):
            if key in self.filters:
                kinds.append(word if self.filters[key] or key == "foreign_key" else "not " + word)
        if "type_" in self.filters:
            kinds.append("type %s" % self.filters["type_"])
        where = "%s(%s)" % (self.table, ", ".join(self.columns)) if self.columns is not None else self.table
        text = "%s, on %s" % (", ".join(kinds) or "any constraint or index", where)
        if self.exclude:
            text += ", other than %s" % ", ".join(self.exclude)
        return text + ("; exactly one" if self.exactly_one else "")

    def _conditions(self, is_index: bool) -> Optional[List[str]]:
        """The WHERE conditions for the index half or the constraint half of Django's
        catalogue view, or None when that half cannot match."""
        f = self.filters
        if "index" in f and bool(f["index"]) != is_index:
            return None
        if is_index and (f.get("check") or "foreign_key" in f):
            return None
        if not is_index and "type_" in f:
            return None  # only indexes have a type
        conditions = []
        if is_index:
            for key, column in (("unique", "x.indisunique"), ("primary_key", "x.indisprimary")):
                if key in f:
                    conditions.append(column if f[key] else "NOT " + column)
            if "type_" in f:
                conditions.append(
                    "(CASE WHEN am.amname = 'btree' AND i.relname NOT LIKE '%%\\_btree' AND i.reloptions IS NULL "
                    "THEN 'idx' ELSE am.amname::text END) = %s" % _literal(str(f["type_"])))
        else:
            for key, test in (("unique", "c.contype IN ('p', 'u')"), ("primary_key", "c.contype = 'p'"),
                              ("check", "c.contype = 'c'")):
                if key in f:
                    conditions.append(test if f[key] else "NOT " + test)
            if "foreign_key" in f:  # Django tests only that the constraint is a foreign key
                conditions.append("c.contype = 'f'")
        return conditions

    def _query(self) -> str:
        table = _literal(_quoted(self.table))
        columns = (None if self.columns is None
                   else "ARRAY[%s]::text[]" % ", ".join(_literal(c) for c in self.columns))
        halves = []
        index_conditions = self._conditions(is_index=True)
        if index_conditions is not None:
            conditions = ["x.indrelid = to_regclass(%s)" % table,
                          "NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = x.indrelid "
                          "AND k.conname = i.relname)"]
            if columns:
                conditions.append(
                    "ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos) "
                    "LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
                    "ORDER BY k.pos) = %s" % columns)
            halves.append(
                "SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_am am ON am.oid = i.relam\n      WHERE %s" % "\n        AND ".join(conditions + index_conditions))
        constraint_conditions = self._conditions(is_index=False)
        if constraint_conditions is not None:
            conditions = ["c.conrelid = to_regclass(%s)" % table]
            if columns:
                conditions.append(
                    "ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, pos) "
                    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
                    "ORDER BY k.pos) = %s" % columns)
            halves.append("SELECT c.conname::text FROM pg_constraint c\n      WHERE %s"
                          % "\n        AND ".join(conditions + constraint_conditions))
        if not halves:
            return "SELECT NULL::text WHERE false"
        query = "\n      UNION ALL\n      ".join(halves)
        if self.exclude:
            query = "SELECT name FROM (%s) found(name)\n      WHERE name <> ALL (ARRAY[%s])" % (
                query, ", ".join(_literal(n) for n in self.exclude))
        return query

    def __str__(self) -> str:
        """The DO block."""
        check = ""
        if self.exactly_one:
            described = "%s(%s)" % (self.table, ", ".join(self.columns or []))
            check = ("  IF cardinality(found) <> 1 THEN\n"
                     "    RAISE EXCEPTION 'Found wrong number (%%) of constraints for %s', cardinality(found);\n"
                     "  END IF;\n" % described.replace("'", "''").replace("%", "%%"))
        return (
            "DO %(tag)s\n"
            "-- Django looks the name up as it runs: %(what)s.\n"
            "DECLARE\n"
            "  found text[] := ARRAY(\n      %(query)s\n      ORDER BY 1);\n"
            "  name text;\n"
            "BEGIN\n"
            "%(check)s"
            "  FOREACH name IN ARRAY found LOOP\n"
            "    EXECUTE format(%(template)s, name);\n"
            "  END LOOP;\n"
            "END\n"
            "%(tag)s" % {"tag": _TAG, "what": self.describe().replace("\n", " "), "query": self._query(),
                         "check": check, "template": _literal(self.template or "")})


def lookup_from_call(table: str, column_names: Optional[Sequence[str]], kwargs: Dict[str, object],
                     exactly_one: bool, found: List[str]) -> NameLookup:
    filters = {k: v for k, v in kwargs.items() if k != "exclude" and v is not None}
    return NameLookup(table=table, columns=None if column_names is None else list(column_names),
                      filters=filters, exclude=sorted(kwargs.get("exclude") or ()),
                      exactly_one=exactly_one, found=list(found))
