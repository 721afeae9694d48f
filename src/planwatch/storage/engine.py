"""The storage engine: connections, transactions, migrations and error translation.

Every SQLAlchemy/driver error that leaves `begin()` / `connect()` becomes a `StorageError` that
names the masked URL and the cause, so callers never see (or log) a password.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc

from planwatch.clock import utcnow
from planwatch.errors import StorageConflict, StorageError
from planwatch.redaction import redact
from planwatch.storage import partitions

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_PRAGMAS = (
    # Only takes effect in a database without tables (a new one): free pages can then be
    # returned to the file system by `PRAGMA incremental_vacuum` (storage/maintenance.py).
    "auto_vacuum=INCREMENTAL",
    "journal_mode=WAL",
    "busy_timeout=15000",
    "foreign_keys=ON",
    "synchronous=NORMAL",
)
_WRITE = "planwatch_write"
_VERSION_TABLE = "alembic_version"  # Alembic's default; migrations/env.py keeps it
_VERSIONS = sa.select(sa.column("version_num", sa.String)).select_from(sa.table(_VERSION_TABLE))
PING_AFTER_IDLE_S = 10.0
"""A pooled connection idle this long is pinged before it is used again (a storage restart
or an idle timeout may have closed it). One in constant use is not: at fleet scale
`pool_pre_ping`'s round trip on every checkout cost ~3 % of a worker's CPU."""
_MIGRATION_LOCK = 0x706C616E  # "plan": advisory lock id serializing migrations on PostgreSQL


class Storage:
    """planwatch's own database; open with `Storage.open(url)`, then `migrate()`."""

    def __init__(self, engine: sa.Engine, password: str | None = None) -> None:
        self.engine = engine
        self.url_safe = engine.url.render_as_string(hide_password=True)
        self.dialect = engine.dialect.name
        self._password = password or ""

    @classmethod
    def open(cls, url: str, *, pool_size: int = 5) -> Storage:
        """Create the engine (no connection is made and no schema work is done)."""
        try:
            parsed = sa.make_url(url)
        except exc.ArgumentError:
            raise StorageError("storage URL is not a valid SQLAlchemy URL") from None
        safe = parsed.render_as_string(hide_password=True)
        try:
            engine = sa.create_engine(parsed, **_engine_options(parsed, pool_size))
        except (exc.SQLAlchemyError, ImportError) as e:
            raise StorageError(f"storage {safe}: cannot create engine: {redact(str(e))}") from None
        _ping_when_idle(engine)
        if parsed.get_backend_name() == "sqlite":
            _prepare_sqlite(engine, parsed)
        return cls(engine, password=parsed.password)

    def __repr__(self) -> str:
        return f"Storage({self.url_safe!r})"

    @contextlib.contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A write transaction, committed when the block ends without an error."""
        with self._guard(), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads; anything not committed explicitly is rolled back."""
        with self._guard(), self.engine.connect() as conn:
            yield conn

    def ping(self) -> None:
        """Raise `StorageError` unless the storage database answers. A pooled connection that
        died while in use (only idle ones are pinged at checkout) is retried once on a fresh
        one, so the error says why storage is unreachable now, not that a session ended."""
        try:
            self._select_one()
        except StorageError as e:
            if not getattr(e.__cause__, "connection_invalidated", False):
                raise
            self._select_one()

    def _select_one(self) -> None:
        with self.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar_one()

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every branch (Alembic `upgrade heads`)."""
        cfg = alembic_config()
        with self.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
        partitions.ensure(self, utcnow())  # PostgreSQL: the coming days' sample partitions
        log.info("storage.migrated", url=self.url_safe)

    def schema_current(self) -> bool:
        """True when the database is at the newest migration revision.

        Reads Alembic's version table itself: `MigrationContext` logs two INFO lines each time
        it is configured, and health probes ask this every few seconds.
        """
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        with self.connect() as conn:
            if not sa.inspect(conn).has_table(_VERSION_TABLE):
                return False
            return set(conn.execute(_VERSIONS).scalars()) == heads

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except exc.IntegrityError as e:
            raise StorageConflict(self._describe(e)) from e
        except (exc.DBAPIError, exc.SQLAlchemyError) as e:
            raise StorageError(self._describe(e)) from e

    def _describe(self, error: exc.SQLAlchemyError) -> str:
        cause = getattr(error, "orig", None) or error
        text = " ".join(redact(str(cause), self._password).split())[:500]
        return f"storage {self.url_safe}: {type(cause).__name__}: {text}"


def alembic_config() -> Config:
    """Alembic configuration built in code: the package's migrations, no alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return cfg


def _engine_options(url: sa.URL, pool_size: int) -> dict[str, Any]:
    backend = url.get_backend_name()
    options: dict[str, Any] = {"json_deserializer": json_loads}
    if backend == "sqlite":
        options["connect_args"] = {"timeout": 15, "check_same_thread": False}
        if _sqlite_path(url) is not None:
            options["pool_size"] = pool_size
    elif backend == "postgresql":
        options["pool_size"] = pool_size
        options["connect_args"] = {
            k: v
            for k, v in {"connect_timeout": 10, "application_name": "planwatch"}.items()
            if k not in url.query
        }
    return options


def json_loads(text: str | bytes) -> Any:
    """JSON columns as Python values: orjson (~8x faster on the samples' extras, which an
    analysis reads by the thousand); the stdlib for what orjson refuses (infinities, lone
    surrogates)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _ping_when_idle(engine: sa.Engine) -> None:
    """`pool_pre_ping` for connections idle `PING_AFTER_IDLE_S` or more: a dead one is
    replaced (the pool retries the checkout on `DisconnectionError`)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            raise exc.DisconnectionError(f"storage connection lost while idle: {e}") from e


def _sqlite_path(url: sa.URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _prepare_sqlite(engine: sa.Engine, url: sa.URL) -> None:
    """Pragmas on every connection, parent directory, and explicit BEGINs.

    pysqlite's own transaction handling defers BEGIN until the first write, which lets a
    read-then-write transaction fail with SQLITE_BUSY instead of waiting; so planwatch issues
    BEGIN itself, IMMEDIATE for `Storage.begin()` (take the write lock up front).
    """
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
