"""The JSON API over seeded storage, on SQLite and PostgreSQL: shapes, filters, actions, access."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integration.web import webseed
from integration.web.conftest import TOKEN, Site, make_site
from planwatch import views
from planwatch.clock import utcnow
from planwatch.model.alerts import AlertStatus
from planwatch.storage import alerts, silences

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def get(client: httpx.AsyncClient, path: str, status: int = 200) -> Any:
    r = await client.get(f"/api/v1{path}")
    assert r.status_code == status, r.text
    return r.json()


async def test_alert_list_matches_the_cli_json_and_filters(
    client: httpx.AsyncClient, site: Site
) -> None:
    s = site.seeded
    found = await get(client, "/alerts")
    assert [a["id"] for a in found] == sorted([s.main_alert, s.script_alert], reverse=True)
    cli_shape = views.alert(alerts.get(site.app.storage, s.main_alert))
    main = next(a for a in found if a["id"] == s.main_alert)
    assert {k: main[k] for k in cli_shape} == cli_shape
    assert main["query_pk"] == s.main_pk and main["silenced_until"] is None
    assert [a["id"] for a in await get(client, "/alerts?severity=critical")] == [s.main_alert]
    assert {a["id"] for a in await get(client, "/alerts?status=all")} == {
        s.main_alert, s.script_alert, s.resolved_alert}
    assert await get(client, "/alerts?target=nope") == []
    bad = await get(client, "/alerts?status=bogus", 400)
    assert "status: expected one of" in bad["error"]


async def test_alert_detail_has_its_audit_trail(client: httpx.AsyncClient, site: Site) -> None:
    detail = await get(client, f"/alerts/{site.seeded.main_alert}")
    assert [e["event"] for e in detail["events"]] == ["opened"]
    assert (await get(client, "/alerts/999999", 404))["error"] == "alert 999999 does not exist"
    await get(client, f"/alerts/{2**70}", 404)


async def test_query_series_marks_the_plan_change(client: httpx.AsyncClient, site: Site) -> None:
    s = site.seeded
    series = await get(client, f"/queries/{s.main_pk}/series?range=7d")
    n = len(series["t"])
    assert n == 48 * 12
    for key in ("mean_ms", "calls", "rows", "blks_hit", "blks_read", "blks_temp", "plan_hash"):
        assert len(series[key]) == n, key
    assert series["plan_changes"] == [
        {"t": series["t"][series["plan_hash"].index(s.plan_new)], "from": s.plan_old,
         "to": s.plan_new}
    ]
    assert series["mean_ms"][0] == 2.0 and series["mean_ms"][-1] == 9.0
    short = await get(client, f"/queries/{s.main_pk}/series?range=1h")
    assert len(short["t"]) in (11, 12, 13)
    await get(client, "/queries/424242/series", 404)


async def test_plans_and_their_diff(client: httpx.AsyncClient, site: Site) -> None:
    s = site.seeded
    plans = await get(client, f"/queries/{s.main_pk}/plans")
    assert [p["plan_hash"] for p in plans] == [s.plan_old, s.plan_new]
    diff = await get(client, f"/queries/{s.main_pk}/plans/diff")
    assert diff["from"]["plan_hash"] == s.plan_old and diff["to"]["plan_hash"] == s.plan_new
    assert "orders: Index Scan (orders_customer_id_idx) -> Seq Scan" in diff["changes"]
    assert diff["rows"][0] == {"left": "Index Scan on orders using orders_customer_id_idx",
                               "right": "Sort", "tag": "replace"}
    back = await get(client, f"/queries/{s.main_pk}/plans/diff?from={s.plan_new}&to={s.plan_old}")
    assert back["from"]["plan_hash"] == s.plan_new
    only_to = await get(client, f"/queries/{s.main_pk}/plans/diff?to={s.plan_new}")
    assert only_to["from"]["plan_hash"] == s.plan_old
    await get(client, f"/queries/{s.main_pk}/plans/diff?to={s.plan_old}", 404)  # no earlier
    await get(client, f"/queries/{s.main_pk}/plans/diff?from=x&to={s.plan_old}", 404)
    await get(client, f"/queries/{s.script_pk}/plans/diff", 404)  # one plan only


async def test_top_queries_and_regressions(client: httpx.AsyncClient, site: Site) -> None:
    s = site.seeded
    top = await get(client, "/queries?range=24h")
    assert [q["query_id"] for q in top] == ["4242", "1337", "77"]
    assert top[0]["id"] == s.main_pk and top[0]["plan_changed"] is True
    assert await get(client, "/queries?target=reporting") == []
    regressions = await get(client, "/queries?order=regression")
    assert [a["id"] for a in regressions] == [s.main_alert, s.script_alert]  # by ratio
    assert (await get(client, "/queries?limit=0", 400))["error"].startswith("limit:")


async def test_targets_checks_workers_job_runs_summary(
    client: httpx.AsyncClient, site: Site
) -> None:
    targets = {t["name"]: t for t in await get(client, "/targets")}
    assert targets["orders-db"]["up"] is True and targets["orders-db"]["queries"] == 3
    assert targets["reporting"]["up"] is False
    assert (await get(client, "/targets/reporting"))["last_error"] == (
        "unable to open database file")
    await get(client, "/targets/nope", 404)

    checks = await get(client, "/checks")
    backlog = next(c for c in checks["checks"] if c["check"] == "orders_backlog")
    assert (backlog["runs_7d"], backlog["ok_7d"]) == (40, 38)
    assert backlog["last_status"] == "critical" and len(backlog["recent"]) == 30
    assert backlog["success_rate_7d"] == 0.95
    assert [p["status"] for p in backlog["recent"]][-5:] == ["critical", "ok", "ok", "ok",
                                                             "critical"]
    failed = await get(client, "/checks/results?status=error")
    assert [r["check"] for r in failed] == ["reporting_fresh"]

    found = {w["instance_id"]: w for w in await get(client, "/workers")}
    assert found["w-live-0001"]["health"] == "healthy"
    assert found["w-live-0001"]["running_jobs"] == 1
    assert found["w-dead-0002"]["health"] == "dead"
    runs = await get(client, "/job-runs?status=Failed")
    assert [r["error"] for r in runs] == ["TargetUnreachable: connection refused"]

    summary = await get(client, "/summary")
    assert summary["alerts"]["by_severity"] == {"critical": 1, "warning": 1}
    assert summary["targets"]["counts"]["up"] == 1 and summary["targets"]["counts"]["down"] == 1
    assert [a["id"] for a in summary["top_regressions"]] == [site.seeded.main_alert,
                                                             site.seeded.script_alert]
    assert summary["hotspots"][0]["query_id"] == "4242"
    assert summary["hotspots_calls"] and summary["hotspots_io"] is not None
    calls = [q["calls"] for q in summary["hotspots_calls"]]
    assert calls == sorted(calls, reverse=True)


async def test_ack_resolve_silence_with_the_token(client: httpx.AsyncClient, site: Site) -> None:
    s, st = site.seeded, site.app.storage
    r = await client.post(f"/api/v1/alerts/{s.main_alert}/ack", headers=AUTH,
                          json={"comment": "looking"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert alerts.get(st, s.main_alert).status is AlertStatus.ACKNOWLEDGED
    again = await client.post(f"/api/v1/alerts/{s.main_alert}/ack", headers=AUTH)
    assert again.status_code == 409
    r = await client.post(f"/api/v1/alerts/{s.script_alert}/silence",
                          headers={"X-Planwatch-Token": TOKEN}, json={"minutes": 30})
    assert r.status_code == 200 and r.json()["silenced_until"] is not None
    events = alerts.events(st, s.script_alert)
    assert events[-1].event == "silenced" and events[-1].actor.startswith("web:token@")
    stored = silences.list_silences(st, active_at=utcnow())
    assert [x.matchers for x in stored] == [{"dedup_key": "regression:orders-db:orders:1337"}]
    shown = {a["id"]: a["silenced_until"] for a in await get(client, "/alerts")}
    assert shown[s.script_alert] is not None and shown[s.main_alert] is None
    assert alerts.get(st, s.script_alert).status is AlertStatus.OPEN  # an overlay only
    r = await client.post(f"/api/v1/alerts/{s.script_alert}/resolve", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    bad = await client.post(f"/api/v1/alerts/{s.main_alert}/silence", headers=AUTH,
                            json={"minutes": 0})
    assert bad.status_code == 400
    bad = await client.post(f"/api/v1/alerts/{s.main_alert}/ack", headers=AUTH, content=b"[1")
    assert bad.status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"X-Planwatch-Token": ""}])
async def test_writes_without_the_token_are_refused(
    client: httpx.AsyncClient, site: Site, headers: dict[str, str]
) -> None:
    s = site.seeded
    for action in ("ack", "resolve", "silence"):
        r = await client.post(f"/api/v1/alerts/{s.main_alert}/{action}", headers=headers)
        assert r.status_code == 401, r.text
        form = await client.post(f"/alerts/{s.main_alert}/{action}", headers=headers,
                                 data={"next": "/alerts"})
        assert form.status_code == 401
    assert alerts.get(site.app.storage, s.main_alert).status is AlertStatus.OPEN


async def test_session_writes_need_csrf_and_same_origin(
    client: httpx.AsyncClient, site: Site
) -> None:
    s = site.seeded
    login = await client.post("/login", data={"token": TOKEN, "next": "/alerts"})
    assert login.status_code == 303 and login.headers["location"] == "/alerts"
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = (await client.get("/alerts")).text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    no_csrf = await client.post(f"/alerts/{s.main_alert}/ack", data={"next": "/alerts"})
    assert no_csrf.status_code == 403
    cross = await client.post(f"/alerts/{s.main_alert}/ack", data={"csrf": csrf},
                              headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    api_no_csrf = await client.post(f"/api/v1/alerts/{s.main_alert}/ack")
    assert api_no_csrf.status_code == 403
    ok = await client.post(f"/alerts/{s.main_alert}/ack",
                           data={"csrf": csrf, "next": "//evil.example/x"})
    assert ok.status_code == 303 and ok.headers["location"] == "/alerts"
    assert alerts.get(site.app.storage, s.main_alert).status is AlertStatus.ACKNOWLEDGED
    wrong = await client.post("/login", data={"token": "nope"})
    assert wrong.status_code == 401


async def test_reads_are_open_only_on_loopback(site: Site) -> None:
    async with site.client(host="10.1.2.3") as remote:
        assert (await remote.get("/api/v1/alerts")).status_code == 401
        page = await remote.get("/alerts")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        assert (await remote.get("/health/live")).status_code == 200
        assert (await remote.get("/api/v1/alerts", headers=AUTH)).status_code == 200


@pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
async def test_public_read_opens_reads_but_not_writes(storage_url: str) -> None:
    async for public in make_site(storage_url, public_read=True):
        async with public.client(host="10.1.2.3") as remote:
            assert (await remote.get("/api/v1/alerts")).status_code == 200
            r = await remote.post(f"/api/v1/alerts/{public.seeded.main_alert}/ack")
            assert r.status_code == 401


@pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
async def test_without_a_token_nothing_can_be_written(storage_url: str) -> None:
    async for site in make_site(storage_url, token=None):
        async with site.client() as c:
            r = await c.post(f"/api/v1/alerts/{site.seeded.main_alert}/ack", headers=AUTH)
            assert r.status_code == 403 and "no http.token" in r.json()["error"]


async def test_no_secret_and_no_live_markup_in_output(
    client: httpx.AsyncClient, site: Site
) -> None:
    s = site.seeded
    showing_script = ("/", f"/queries/{s.script_pk}", "/alerts", "/checks")
    for path in ("/api/v1/summary", "/api/v1/targets", "/targets/orders-db", "/workers",
                 *showing_script):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert webseed.DSN_PASSWORD not in r.text, path
        assert "<script>window.__pwned" not in r.text or path.startswith("/api/"), path
        if path in showing_script:
            assert "&lt;script&gt;window.__pwned" in r.text, path
    headers = (await client.get("/")).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


async def test_openapi_document_lists_every_endpoint(client: httpx.AsyncClient) -> None:
    doc = await get(client, "/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert {"/alerts", "/alerts/{alert_id}/ack", "/queries/{query_id}/series",
            "/queries/{query_id}/plans/diff", "/checks", "/workers", "/job-runs",
            "/summary"} <= set(doc["paths"])


async def test_query_page_shows_its_alerts_chart_data_and_diff(
    client: httpx.AsyncClient, site: Site
) -> None:
    s = site.seeded
    page = (await client.get(f"/queries/{s.main_pk}")).text
    assert f'id="alert-{s.main_alert}"' in page and f'id="alert-{s.script_alert}"' not in page
    assert 'id="series-data"' in page and 'id="plan-diff"' in page
    chosen = await client.get(f"/queries/{s.main_pk}?from={s.plan_new}&to={s.plan_old}")
    assert chosen.status_code == 200
    assert f"<code>{s.plan_new}</code> → <code>{s.plan_old}</code>" in chosen.text
    unknown = await client.get(f"/queries/{s.main_pk}?from=nope&to={s.plan_old}")
    assert "does not belong to this query" in unknown.text
    assert (await client.get("/queries/999999")).status_code == 404


async def test_alert_links_land_on_the_query_page(client: httpx.AsyncClient, site: Site) -> None:
    r = await client.get(f"/alerts/{site.seeded.main_alert}")
    assert r.status_code == 303 and r.headers["location"] == f"/queries/{site.seeded.main_pk}"
    assert (await client.get("/alerts/999999")).status_code == 404
