"""Nothing is lost while storage is down (issue 11): a real worker under load loses its
PostgreSQL storage for a while; afterwards every call the workload made is in the samples
(the polls that could not be stored are covered by the first one that could, as one longer
interval) and every check run is in `check_results` (results are buffered)."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from workerproc import WorkerProcess, fast_config, wait_for, write_config

from planwatch.devtools.pgcluster import PgCluster, start_cluster
from planwatch.errors import StorageError
from planwatch.storage.tables import check_results as cr
from planwatch.storage.tables import queries as q
from planwatch.storage.tables import query_samples as s

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

OUTAGE_S = float(os.environ.get("PLANWATCH_OUTAGE_S", "120"))  # two minutes, as asked
LOOKUP = "SELECT count(*) FROM items WHERE kind = %s"


@pytest.fixture(scope="module")
def storage_cluster() -> Iterator[PgCluster]:
    """The storage: a cluster of its own, so it can be stopped without touching the target."""
    c = start_cluster(stat_statements=False)
    try:
        yield c
    finally:
        c.cleanup()


class Workload:
    """One client counting exactly how many times it ran the statement."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.calls, self.stop = dsn, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                conn.execute(LOOKUP, (self.calls % 7,)).fetchall()
                self.calls += 1
                self.stop.wait(0.02)


def _sample_calls(url: str, db: str) -> int:
    from planwatch.storage.engine import Storage

    st = Storage.open(url)
    try:
        with st.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(s.c.calls), 0))
                .join(q, q.c.id == s.c.query_pk)
                .where(q.c.database == db,
                       q.c.text == "SELECT count(*) FROM items WHERE kind = $1")
            ).scalar_one())
    finally:
        st.close()


def _check_rows(worker: WorkerProcess) -> int:
    with worker.storage.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(cr)
                                .where(cr.c.check_name == "items_present")).scalar_one())


def _check_runs(worker: WorkerProcess) -> int | None:
    response = worker.get("/metrics")
    if response is None:
        return None
    found = re.search(r'^planwatch_check_runs_total\{check="items_present"[^}]*\} (\S+)$',
                      response.text, re.M)
    return int(float(found.group(1))) if found else 0


def test_every_call_and_check_run_is_accounted_for_after_a_storage_outage(
    pg_cluster: PgCluster, storage_cluster: PgCluster, tmp_path: Path
) -> None:
    db = f"out_{uuid.uuid4().hex[:8]}"
    pg_cluster.psql(f"CREATE DATABASE {db}")
    pg_cluster.psql("CREATE EXTENSION pg_stat_statements;"
                    "CREATE TABLE items (id int PRIMARY KEY, kind int NOT NULL);"
                    "INSERT INTO items SELECT g, g % 7 FROM generate_series(1, 5000) g;", db)
    store_db = f"store_{uuid.uuid4().hex[:8]}"
    storage_cluster.psql(f"CREATE DATABASE {store_db}")
    url = storage_cluster.url(store_db)
    config = fast_config(
        tmp_path, [{"name": "shop", "engine": "postgresql", "dsn": pg_cluster.dsn(db)}],
        storage_url=url,
        checks=[{"name": "items_present", "target": "shop", "interval": "2s",
                 "sql": "SELECT count(*) FROM items", "critical": "< 1"}],
    )
    config["scheduling"]["collection"] = {"interval": "2s", "startup_delay": "0s"}
    with WorkerProcess(write_config(tmp_path / "planwatch.yaml", config),
                       run_args=("--workers", "1")) as worker:
        wait_for(lambda: [r for r in worker.runs("collection:shop")
                          if r.result_status is not None], timeout=90, process=worker,
                 what="a first stored collection (the snapshot the workload is counted from)")
        load = Workload(pg_cluster.dsn(db))
        load.thread.start()
        wait_for(lambda: _sample_calls(url, db) > 0, timeout=60, process=worker,
                 what="samples of the workload")

        storage_cluster.stop()  # storage down under load
        stopped_at = load.calls
        wait_for(lambda: worker.health() is not None and worker.health()[0] == 503,  # type: ignore[index]
                 timeout=60, process=worker, what="readiness to see storage down")
        threading.Event().wait(OUTAGE_S)
        assert load.calls > stopped_at, "the workload must keep running during the outage"
        storage_cluster.start()

        load.stop.set()
        load.thread.join(10)
        made = load.calls
        # Every call made is stored once storage is back: the first collection after the
        # outage covers it as one longer interval, the next ones the rest.
        wait_for(lambda: _sample_calls(url, db) == made, timeout=120, process=worker,
                 what=f"all {made} calls in the samples")
        runs = wait_for(lambda: _check_runs(worker), timeout=30, what="the check run counter")

        def stored_all_runs() -> bool:
            try:
                return _check_rows(worker) >= runs
            except StorageError:
                return False

        wait_for(stored_all_runs, timeout=60, process=worker,
                 what=f"{runs} check results stored")
        worker.stop()
    assert _sample_calls(url, db) == made  # nothing counted twice either
    pg_cluster.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
