"""How a generic plan is obtained, in the context the application had (engines.md §1.6).

`explain` runs inside one read-only transaction that is always rolled back: it takes the
application's role where the monitoring role may (`SET LOCAL ROLE`), applies the planner
settings that role has in that database (`ALTER ROLE ... SET`, `ALTER DATABASE ... SET`, read
from `pg_db_role_setting`, applied in PostgreSQL's precedence order with `set_config(..., true)`),
then asks for the generic plan: `EXPLAIN (GENERIC_PLAN)` on 16+, `PREPARE` +
`plan_cache_mode = force_generic_plan` + `EXPLAIN EXECUTE` with NULLs on 12-15. Never
ANALYZE: nothing is executed. When index candidates are given and hypopg is installed, the
plan is explained once more with each candidate as a hypothetical index.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from planwatch.collectors import pg_session, sqlfiles
from planwatch.model.plans import IndexCandidate

EXPLAINABLE = frozenset({"select", "with", "insert", "update", "delete", "values"})
_LEADING = re.compile(r"^(?:\s+|/\*.*?\*/|--[^\n]*\n|\()*", re.S)
_PARAM = re.compile(r"\$(\d+)")
STATEMENT_NAME = "planwatch_plan"
HYPOTHETICAL_NAME = "planwatch_plan_hypo"
# Settings outside pg_settings' "Query Tuning" categories that still change plans.
PLANNER_EXTRA = ("work_mem", "hash_mem_multiplier", "search_path", "row_security",
                 "max_parallel_workers_per_gather", "max_parallel_workers",
                 "effective_io_concurrency")


def explainable(text: str | None) -> bool:
    """Plain DML/SELECT texts only: one statement, starting with an explainable keyword."""
    if not text or sqlfiles.is_own(text):
        return False
    body = _LEADING.sub("", text, count=1)
    if ";" in body.rstrip().rstrip(";"):
        return False  # more than one statement, or a literal we will not risk
    word = body.split(None, 1)[0].lower() if body.split() else ""
    return word in EXPLAINABLE


def parameter_count(text: str) -> int:
    """Highest `$n` placeholder in the normalized text (one NULL is passed per `$n`)."""
    return max((int(n) for n in _PARAM.findall(text)), default=0)


@dataclass(frozen=True, slots=True)
class ExplainContext:
    """The application's context for one query: its role and the settings that role gets."""

    role: str | None = None
    set_role: bool = False  # the monitoring role may SET ROLE to it
    settings: tuple[tuple[str, str], ...] = ()  # planner settings, lowest precedence first
    not_settable: tuple[str, ...] = ()  # planner settings this session may not set
    candidates: tuple[IndexCandidate, ...] = ()


@dataclass(frozen=True, slots=True)
class Explained:
    """An EXPLAIN document and what it was explained with (for CapturedPlan.context)."""

    doc: Any
    context: dict[str, Any] = field(default_factory=dict)


def role_context(
    conn: pg_session.Connection, userid: int, dbname: str, *, superuser: bool
) -> ExplainContext:
    """The role behind `userid` and its planner settings in `dbname` (pg_db_role_setting)."""
    params = {"userid": userid, "dbname": dbname, "extra": list(PLANNER_EXTRA)}
    rows = conn.execute(pg_session.query("role_context"), params).fetchall()
    if not rows:
        return ExplainContext()
    settable = ("user", "superuser") if superuser else ("user",)
    settings = [(r["name"], r["value"]) for r in rows
                if r["name"] and r["planner"] and r["context"] in settable]
    refused = sorted({r["name"] for r in rows
                      if r["name"] and r["planner"] and r["context"] not in settable})
    first = rows[0]
    return ExplainContext(role=first["role"], set_role=bool(first["can_set_role"]),
                          settings=tuple(settings), not_settable=tuple(refused))


def explain(
    conn: pg_session.Connection, text: str, version_num: int,
    context: ExplainContext = ExplainContext(),
) -> Explained:
    """The generic plan of a normalized statement as parsed EXPLAIN JSON, in `context`."""
    notes: dict[str, Any] = {}
    conn.execute(pg_session.query("begin_read_only"))
    try:
        notes.update(_enter(conn, context))
        doc = _generic_plan(conn, text, version_num, STATEMENT_NAME)
        if context.candidates:
            notes["index_advice"] = _hypothetical(conn, text, version_num, doc,
                                                  context.candidates)
    finally:
        conn.execute(pg_session.query("rollback"))
        # PREPARE is not undone by ROLLBACK: always release the names.
        for name in (STATEMENT_NAME, HYPOTHETICAL_NAME):
            with contextlib.suppress(psycopg.errors.InvalidSqlStatementName):
                conn.execute(pg_session.query("deallocate", name=sql.Identifier(name)))
    return Explained(doc, notes)


def _enter(conn: pg_session.Connection, context: ExplainContext) -> dict[str, Any]:
    """Take the application's role and settings inside the open transaction; say what held."""
    facts: dict[str, Any] = {"plan_kind": "generic"}
    if context.role is None:
        facts["role"] = None
        return facts
    facts["role"] = context.role
    facts["as_role"] = False
    if context.set_role:
        with _savepoint(conn) as ok:
            conn.execute(pg_session.query("set_role", role=sql.Identifier(context.role)))
        facts["as_role"] = ok.value
    if context.settings:
        names, values = zip(*context.settings, strict=True)
        with _savepoint(conn) as ok:
            conn.execute(pg_session.query("apply_settings"),
                         {"names": list(names), "values": list(values)})
        key = "settings" if ok.value else "settings_failed"
        facts[key] = dict(context.settings)
    if context.not_settable:
        facts["settings_not_settable"] = list(context.not_settable)
    return facts


@dataclass
class _Flag:
    value: bool = False


@contextlib.contextmanager
def _savepoint(conn: pg_session.Connection) -> Any:
    """Run a step that may be refused (privileges, a bad value) without losing the transaction."""
    flag = _Flag()
    conn.execute(pg_session.query("savepoint"))
    try:
        yield flag
        flag.value = True
    except psycopg.Error:
        conn.execute(pg_session.query("rollback_to_savepoint"))
    else:
        conn.execute(pg_session.query("release_savepoint"))


def _generic_plan(conn: pg_session.Connection, text: str, version_num: int, name: str) -> Any:
    statement = sql.SQL(text.rstrip().rstrip(";"))
    if version_num >= 160000:
        return _plan(conn.execute(pg_session.query("generic_plan", statement=statement)))
    nulls = parameter_count(text)
    arguments = sql.SQL("({})".format(", ".join(["NULL"] * nulls)) if nulls else "")
    conn.execute(pg_session.query("force_generic_plan"))
    ident = sql.Identifier(name)
    conn.execute(pg_session.query("prepare", name=ident, statement=statement))
    return _plan(conn.execute(pg_session.query("explain_execute", name=ident,
                                               arguments=arguments)))


def _hypothetical(
    conn: pg_session.Connection, text: str, version_num: int, doc: Any,
    candidates: Sequence[IndexCandidate],
) -> dict[str, Any]:
    """Total cost of the generic plan without and with the candidates as hypothetical
    indexes (hypopg); `available: False` when hypopg is not installed in this database."""
    schema = conn.execute(pg_session.query("hypopg_schema")).fetchone()
    if schema is None or schema["schema"] is None:
        return {"available": False, "index": [c.describe() for c in candidates]}
    where = sql.Identifier(schema["schema"])
    for candidate in candidates:
        ddl = _create_index(candidate).as_string(conn)
        conn.execute(pg_session.query("hypopg_create", schema=where), {"ddl": ddl})
    try:
        with_index = _generic_plan(conn, text, version_num, HYPOTHETICAL_NAME)
    finally:
        conn.execute(pg_session.query("hypopg_reset", schema=where))
    used = "<" in _index_names(with_index)  # hypopg names its indexes "<oid>btree_..."
    return {"available": True, "index": [c.describe() for c in candidates],
            "cost_without": _total_cost(doc), "cost_with": _total_cost(with_index),
            "used": used}


def _create_index(candidate: IndexCandidate) -> sql.Composed:
    relation = sql.Identifier(*candidate.relation.split(".", 1))
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in candidate.columns)
    return sql.SQL("CREATE INDEX ON {} ({})").format(relation, columns)


def _total_cost(doc: Any) -> float | None:
    try:
        return float(doc[0]["Plan"]["Total Cost"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _index_names(doc: Any) -> str:
    found: list[str] = []
    stack = [doc[0]["Plan"]] if doc else []
    while stack:
        node = stack.pop()
        if node.get("Index Name"):
            found.append(str(node["Index Name"]))
        stack.extend(node.get("Plans", ()))
    return " ".join(found)


def _plan(cursor: psycopg.Cursor[DictRow]) -> Any:
    row = cursor.fetchone()
    return next(iter(row.values())) if row else None
