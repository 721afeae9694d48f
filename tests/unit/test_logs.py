"""Logging output captured from a real structlog + logging configuration."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import structlog

from planwatch import logs, redaction
from planwatch.config.settings import JobSettings
from planwatch.model.jobs import JobRun
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.runner import JobContext, JobOutcome, JobSpec, Scheduler

SECRET = "s3cr3t-Pa55"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_with_utc_timestamps(output: io.StringIO) -> None:
    logs.configure("info", "json", stream=output)
    structlog.get_logger("t").info("collection.done", statements=3)
    [line] = lines(output)
    assert line["event"] == "collection.done" and line["statements"] == 3
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_json_is_the_default_when_not_on_a_terminal(output: io.StringIO) -> None:
    logs.configure("info", None, stream=output)
    structlog.get_logger().info("x.y")
    assert lines(output)[0]["event"] == "x.y"


def test_console_format_is_not_json(output: io.StringIO) -> None:
    logs.configure("info", "console", stream=output)
    structlog.get_logger().info("x.y", a=1)
    text = output.getvalue()
    assert "x.y" in text and "a=1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_secrets_never_reach_the_output(output: io.StringIO) -> None:
    logs.configure("debug", "json", stream=output)
    log = structlog.get_logger("t")
    log.info(
        "target.connect",
        dsn=f"postgresql://planwatch:{SECRET}@db:5432/orders",
        password=SECRET,
        api_key=SECRET,
        url=f"postgresql://planwatch:{SECRET}@db/orders",
        libpq=f"host=db password={SECRET} user=planwatch",
        nested={"token": SECRET, "hosts": [f"mysql://root:{SECRET}@m/db"]},
        dedup_key="regression:db1:42",
    )
    logging.getLogger("uvicorn.error").warning("connect postgresql://u:%s@h/db failed", SECRET)
    try:
        raise ConnectionError(f"could not connect to postgresql://u:{SECRET}@h/db")
    except ConnectionError:
        log.exception("target.unreachable")
    assert SECRET not in output.getvalue()
    first = lines(output)[0]
    assert first["url"] == f"postgresql://planwatch:{redaction.MASK}@db/orders"
    assert first["libpq"] == f"host=db password={redaction.MASK} user=planwatch"
    assert first["dedup_key"] == "regression:db1:42"  # not every "key" is a secret
    assert len(lines(output)) == 3


def test_levels_apply_to_structlog_and_standard_logging(output: io.StringIO) -> None:
    logs.configure("warning", "json", stream=output)
    structlog.get_logger().info("hidden")
    logging.getLogger("alembic").info("hidden too")
    logging.getLogger("alembic").warning("shown")
    assert [line["event"] for line in lines(output)] == ["shown"]


def test_unknown_level_is_rejected(output: io.StringIO) -> None:
    with pytest.raises(ValueError):
        logs.configure("loud", stream=output)


class _Recorder:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def started(self, run: JobRun) -> int:
        self.ids[run.job_name] = len(self.ids) + 100
        return self.ids[run.job_name]

    def finished(self, run_id: int, run: JobRun) -> None:
        return None


async def test_every_line_of_a_job_run_carries_its_run_id_and_target(
    output: io.StringIO,
) -> None:
    logs.configure("info", "json", stream=output)
    module_log = structlog.get_logger("planwatch.jobs.collection")
    both_running = asyncio.Barrier(2)

    async def collect(ctx: JobContext) -> JobOutcome:
        module_log.info("collection.start")
        await both_running.wait()  # interleave the two runs
        ctx.log.info("collection.done")
        logging.getLogger("planwatch.driver").warning("driver.notice")
        return JobOutcome()

    specs = [
        JobSpec(kind="collection", name=f"collection:{t}", target=t, func=collect,
                settings=JobSettings(enabled=False))
        for t in ("db1", "db2")
    ]
    recorder = _Recorder()
    sched = Scheduler(specs, recorder=recorder, retry=RetryPolicy(),
                      max_consecutive_failures=3, worker_id="w", jitter=timedelta(0))
    await asyncio.gather(sched.run_once("collection:db1"), sched.run_once("collection:db2"))

    job_lines = [line for line in lines(output) if line["event"].split(".")[0] in
                 ("collection", "driver")]
    assert len(job_lines) == 6
    for line in job_lines:
        assert line["run_id"] == recorder.ids[f"collection:{line['target']}"]
        assert line["job"] == f"collection:{line['target']}"
    assert "run_id" not in structlog.contextvars.get_contextvars()  # nothing leaked out
