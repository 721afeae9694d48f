"""`planwatch silences` and `planwatch alerts ack|resolve` against a real SQLite storage."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from alerting_support import make_settings, regression_alert
from receivers import WebhookReceiver, free_port

from planwatch import cli
from planwatch.clock import utcnow
from planwatch.config.settings import ChannelSettings, Secret
from planwatch.jobs import alert_processing
from planwatch.storage import alerts, notifications
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration


SQLITE_ONLY = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)


@pytest.fixture
def db(storage: Storage, storage_url: str, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Storage:
    """The migrated storage, also the CLI's (through the environment)."""
    monkeypatch.setenv("PLANWATCH_STORAGE__URL", storage_url)
    monkeypatch.chdir(tmp_path)
    return storage


@SQLITE_ONLY
def test_silences_add_list_expire(db: Storage, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        assert cli.main(["silences", "add", "target=orders-*", "kind=regression",
                         "--duration", "30m", "--comment", "reindex"]) == 0
        assert "silence 1 active until" in capsys.readouterr().out
        assert cli.main(["silences", "list", "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)
        assert row["matchers"] == {"target": "orders-*", "kind": "regression"}
        assert row["active"] is True and row["comment"] == "reindex"
        assert cli.main(["silences", "expire", "1"]) == 0
        capsys.readouterr()
        assert cli.main(["silences", "list"]) == 0
        assert capsys.readouterr().out.strip() == "no silences"
        assert cli.main(["silences", "list", "--all"]) == 0
        assert "expired" in capsys.readouterr().out

        assert cli.main(["silences", "add", "colour=red"]) == 1
        assert "unknown matcher key 'colour'" in capsys.readouterr().err
        assert cli.main(["silences", "expire", "99"]) == 1
        assert "silence 99 does not exist" in capsys.readouterr().err
    finally:
        db.close()


@SQLITE_ONLY
def test_alerts_ack_and_resolve_with_comment(
    db: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        a = alerts.create(db, regression_alert(), actor="analysis")
        assert cli.main(["alerts", "ack", str(a.id), "--comment", "looking"]) == 0
        assert cli.main(["alerts", "resolve", str(a.id), "--comment", "index restored"]) == 0
        trail = [(e.event, e.message) for e in alerts.events(db, a.id or 0)]
        assert trail[1:] == [("acknowledged", "looking"), ("resolved", "index restored")]
        assert all(e.actor.startswith("cli:") for e in alerts.events(db, a.id or 0)[1:])
        assert cli.main(["alerts", "resolve", str(a.id)]) == 1
        assert "already resolved" in capsys.readouterr().err
    finally:
        db.close()


def test_summary_sends_to_every_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], webhook: WebhookReceiver
) -> None:
    config = tmp_path / "pw.yaml"
    config.write_text(f"""
storage: {{url: "sqlite:///{tmp_path / 'pw.db'}"}}
alerting:
  channels:
    - {{name: hook, url: "webhook+{webhook.url}"}}
    - {{name: dead, url: "webhook+http://127.0.0.1:{free_port()}/x"}}
""")
    assert cli.main(["-c", str(config), "summary"]) == 1  # one channel failed
    out = capsys.readouterr().out
    assert "hook: sent" in out and "dead: FAILED: ConnectError" in out
    [doc] = webhook.received
    assert doc["type"] == "daily_summary" and doc["text"].startswith("planwatch daily summary")


@SQLITE_ONLY
def test_notifications_failed_and_resend(
    db: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    now = utcnow()
    try:
        a = alerts.create(db, regression_alert(opened_at=now, updated_at=now, evaluated_at=now),
                          actor="analysis")
        hook = ChannelSettings("hook", Secret("webhook+http://127.0.0.1:9/x"),
                               group_wait=timedelta(0))
        alert_processing.prepare(db, make_settings(str(db.engine.url), [hook]), now,
                                 running_since=now)
        [n] = notifications.claim(db, "hook", now=now, hold=timedelta(minutes=2), worker="t")
        notifications.mark_failed(db, n, now=now, error="HTTP 503 Service Unavailable",
                                  retry_at=None)

        assert cli.main(["notifications", "--failed", "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)
        assert (row["id"], row["status"], row["alert_ids"], row["kind"]) == (
            n.id, "failed", [a.id], "alerts")
        assert row["idempotency_key"] == n.key and row["last_error"].startswith("HTTP 503")
        assert cli.main(["notifications", "--failed"]) == 0
        table = capsys.readouterr().out
        assert "HTTP 503 Service Unavailable" in table and "hook" in table
        assert cli.main(["notifications", "resend", str(n.id)]) == 0
        assert f"notification {n.id} to hook is pending again" in capsys.readouterr().out
        assert notifications.get(db, n.id or 0).status.value == "pending"
        assert cli.main(["notifications", "--failed"]) == 0
        assert capsys.readouterr().out.strip() == "no notifications"
        assert cli.main(["notifications", "resend", str(n.id)]) == 1
        assert "is pending; only a notification that was given up" in capsys.readouterr().err
        assert cli.main(["notifications", "resend", "4242"]) == 1
        assert "notification 4242 does not exist" in capsys.readouterr().err
        assert cli.main(["notifications", "resend"]) == 1
        assert "usage: planwatch notifications resend ID" in capsys.readouterr().err
        resent = [e for e in alerts.events(db, a.id or 0) if e.event == "notification_resent"]
        assert len(resent) == 1 and resent[0].actor.startswith("cli:")
    finally:
        db.close()


@pytest.mark.parametrize("storage_url", ["postgresql"], indirect=True)
def test_commands_close_the_storage_they_open(
    db: Storage, storage_url: str, request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cli.main` run in-process (tests, bench) leaves no storage session behind."""
    cluster = request.getfixturevalue("pg_cluster")
    database = storage_url.rsplit("/", 1)[1]

    def sessions() -> int:
        return int(cluster.psql("SELECT count(*) FROM pg_stat_activity "
                                f"WHERE datname = '{database}'"))

    before = sessions()
    for argv in (["alerts"], ["silences"], ["summary", "--print"], ["queries"], ["checks"],
                 ["workers"], ["notifications"], ["migrate"]):
        assert cli.main(argv) == 0, capsys.readouterr().err
    assert sessions() == before
