"""Storage engine: connection setup, URL masking, error translation, time zones."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from planwatch.app import open_storage
from planwatch.config import loader
from planwatch.devtools.pgcluster import PgCluster
from planwatch.errors import StorageError
from planwatch.model.jobs import JobRun, JobStatus
from planwatch.storage import engine as engine_module
from planwatch.storage import job_runs
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sqlite_connections_use_wal_and_wait_for_locks(tmp_path: Path) -> None:
    st = Storage.open(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'pw.db'}")
    try:
        with st.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        st.close()
    assert pragma["journal_mode"] == "wal"
    assert int(pragma["busy_timeout"] or 0) >= 10000
    assert pragma["foreign_keys"] == 1
    assert pragma["synchronous"] == 1  # NORMAL
    assert (tmp_path / "nested" / "dir" / "pw.db").exists()


def test_ping_and_dialect(storage: Storage, storage_url: str) -> None:
    storage.ping()
    assert storage.dialect == storage_url.split(":")[0].split("+")[0]


def test_url_safe_hides_the_password() -> None:
    st = Storage.open("postgresql+psycopg://planwatch:s3cr3t-pw@127.0.0.1:5999/pw")
    assert "s3cr3t-pw" not in st.url_safe
    assert st.url_safe == "postgresql+psycopg://planwatch:***@127.0.0.1:5999/pw"
    assert "s3cr3t-pw" not in repr(st)
    st.close()


def test_unreachable_postgresql_raises_storage_error_without_password() -> None:
    port = closed_port()
    st = Storage.open(f"postgresql+psycopg://planwatch:s3cr3t-pw@127.0.0.1:{port}/pw")
    try:
        for attempt in (st.ping, st.migrate, st.schema_current):
            with pytest.raises(StorageError) as info:
                attempt()
            message = str(info.value)
            assert "s3cr3t-pw" not in message
            assert f"postgresql+psycopg://planwatch:***@127.0.0.1:{port}/pw" in message
            assert "refused" in message.lower() or "failed" in message.lower()
    finally:
        st.close()


def test_a_failed_migration_leaves_no_session_open(pg_cluster: PgCluster, pg_database: str) -> None:
    """Every command and the worker open the storage with `open_storage`: when the migration
    fails (here: a role that may not create tables) its pool is closed, so no session of it
    stays on the server (a dropped engine's pool outlives the error)."""
    role = f"nocreate_{uuid.uuid4().hex[:10]}"
    pg_cluster.psql(f"CREATE ROLE {role} LOGIN")
    pg_cluster.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", dbname=pg_database)
    try:
        url = pg_cluster.url(pg_database, user=role)
        settings = loader.load_mapping({"storage": {"url": url}, "targets": []}, environ={})
        with pytest.raises(StorageError, match="permission denied"):
            open_storage(settings)
        sessions = pg_cluster.psql(
            f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'").strip()
        assert sessions == "0"
    finally:
        pg_cluster.psql(f"DROP ROLE {role}")


def test_invalid_url_is_reported_without_echoing_it() -> None:
    with pytest.raises(StorageError) as info:
        Storage.open("not a url :s3cr3t-pw")
    assert "s3cr3t-pw" not in str(info.value)


def test_datetimes_come_back_as_aware_utc(storage: Storage) -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=cest)
    run = JobRun(None, "heartbeat", "heartbeat", "w1", JobStatus.RUNNING, local, started_at=local)
    job_runs.start(storage, run)
    [back] = job_runs.recent(storage)
    assert back.scheduled_at == local
    assert back.scheduled_at.tzinfo == UTC
    assert back.scheduled_at == T0.replace(microsecond=123456)


def test_json_columns_read_back_what_was_written(storage: Storage) -> None:
    """JSON columns are read with orjson, and with the stdlib where orjson refuses a document
    (SQLite keeps the stdlib's `Infinity`, a lone surrogate survives)."""
    data: dict[str, object] = {"n": 2**63 - 1, "x": 0.1 + 0.2, "s": "d\u00e9j\u00e0",
                               "nested": {"a": [1, None]}}
    if storage.dialect == "sqlite":  # PostgreSQL refuses both in JSON
        data |= {"inf": float("inf"), "lone": "\ud800"}
    run = JobRun(None, "heartbeat", "heartbeat", "w1", JobStatus.RUNNING, T0, started_at=T0,
                 data=data)
    job_runs.start(storage, run)
    [back] = job_runs.recent(storage)
    assert back.data == data


def test_errors_inside_a_transaction_become_storage_errors(storage: Storage) -> None:
    with pytest.raises(StorageError), storage.begin() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    storage.ping()  # the pool is still usable


def test_schema_probe_logs_nothing(
    storage: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """/health/ready and the health_check job ask this every few seconds: no log line each time
    (Alembic's MigrationContext writes two INFO lines whenever it is configured)."""
    fresh = Storage.open(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        with caplog.at_level("DEBUG"):
            assert storage.schema_current() and storage.schema_current()
            assert not fresh.schema_current()  # no version table yet
        assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
    finally:
        fresh.close()


def _kill_pooled_session(st: Storage, pg_cluster: PgCluster) -> None:
    """Terminate the server session behind the (single) pooled connection, as a storage
    restart or an idle timeout would."""
    with st.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    pg_cluster.psql(f"SELECT pg_terminate_backend({pid})")


def test_an_idle_pooled_connection_that_died_is_replaced_before_use(
    pg_cluster: PgCluster, pg_database: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    st = Storage.open(pg_cluster.url(pg_database), pool_size=1)
    try:
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
        _kill_pooled_session(st, pg_cluster)
        st.ping()  # pinged at checkout, found dead, replaced: the caller sees nothing
    finally:
        st.close()


def test_a_busy_pooled_connection_is_not_pinged_and_a_dead_one_fails_once(
    pg_cluster: PgCluster, pg_database: str,
) -> None:
    """Used again within PING_AFTER_IDLE_S: no ping round trip. Had its session died in that
    time, one use fails as a StorageError and the pool starts afresh for the next one."""
    st = Storage.open(pg_cluster.url(pg_database), pool_size=1)
    try:
        _kill_pooled_session(st, pg_cluster)
        with pytest.raises(StorageError, match=r"terminat|closed"), st.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        st.ping()
    finally:
        st.close()


def test_the_health_ping_reports_why_storage_is_unreachable_now(
    pg_cluster: PgCluster, pg_database: str,
) -> None:
    """The readiness probe's ping retries a pooled connection found dead once: with the
    database gone it says so, not that its old session was terminated."""
    st = Storage.open(pg_cluster.url(pg_database), pool_size=1)
    try:
        st.ping()
        pg_cluster.psql(f"DROP DATABASE {pg_database} WITH (FORCE)")
        with pytest.raises(StorageError, match=f'database "{pg_database}" does not exist'):
            st.ping()
    finally:
        st.close()
