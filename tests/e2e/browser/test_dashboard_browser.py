"""The dashboard in real headless Chromium against a real worker over seeded storage.

Every page loads without console errors or failed requests (screenshots saved under
test-artifacts/screenshots/), the latency chart shows the plan change, ack from the UI
reaches storage, writes without the token are refused, and <script> from the database is
shown as text and never runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser_support import login
from playwright.sync_api import ConsoleMessage, Page, Response

from integration.web.liveworker import LiveWorker
from planwatch.model.alerts import AlertStatus
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Problems:
    """Console errors, uncaught page errors, failed requests and dialogs seen by a tab."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.items.append(f"pageerror: {exc}"))
        page.on("response", self._response)
        page.on("dialog", lambda d: (self.items.append(f"dialog: {d.message}"), d.dismiss()))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.items.append(f"console {msg.type}: {msg.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.items.append(f"HTTP {response.status} {response.url}")


@pytest.fixture
def problems(page: Page) -> Iterator[Problems]:
    found = Problems()
    found.watch(page)
    yield found


def _storage_status(storage_url: str, alert_id: int) -> AlertStatus:
    st = Storage.open(storage_url)
    try:
        return alerts.get(st, alert_id).status
    finally:
        st.close()


def pages(worker: LiveWorker) -> list[tuple[str, str]]:
    s = worker.seeded
    return [
        ("overview", "/"),
        ("target", "/targets/orders-db"),
        ("queries", "/queries"),
        ("query", f"/queries/{s.main_pk}"),
        ("query-script-text", f"/queries/{s.script_pk}"),
        ("alerts", "/alerts"),
        ("checks", "/checks"),
        ("workers", "/workers"),
        ("login", "/login"),
    ]


def test_every_page_loads_without_console_errors(
    worker: LiveWorker, page: Page, problems: Problems, screenshots: Path
) -> None:
    base = worker.base_url
    for name, path in pages(worker):
        response = page.goto(base + path, wait_until="networkidle")
        assert response is not None and response.status == 200, (name, response)
        assert page.locator("main#content h1").count() >= 1, name
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    assert problems.items == []


def test_latency_chart_renders_with_plan_change_markers(
    worker: LiveWorker, page: Page, problems: Problems, screenshots: Path
) -> None:
    s = worker.seeded
    page.goto(f"{worker.base_url}/queries/{s.main_pk}?range=7d",
              wait_until="networkidle")
    chart = page.locator("#latency-chart")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-rendered") == "1"
    markers = chart.locator(".plan-marker")
    assert markers.count() == 1
    assert markers.first.get_attribute("data-from") == s.plan_old
    assert markers.first.get_attribute("data-to") == s.plan_new
    box = chart.bounding_box()
    marker_box = markers.first.bounding_box()
    assert box is not None and marker_box is not None
    # The change happened 12 h before the end of 48 h of samples: the marker sits right of centre.
    assert box["x"] + box["width"] * 0.5 < marker_box["x"] < box["x"] + box["width"]
    # The side-by-side diff shows the access-path change.
    diff = page.locator("#plan-diff")
    assert "Index Scan on orders using orders_customer_id_idx" in diff.inner_text()
    assert "Seq Scan on orders" in diff.inner_text()
    chart.screenshot(path=str(screenshots / "query-chart.png"))
    assert problems.items == []


def test_ack_from_the_ui_changes_the_alert_in_storage(
    worker: LiveWorker, page: Page, problems: Problems, screenshots: Path
) -> None:
    base, s = worker.base_url, worker.seeded
    storage_url = worker.storage_url
    assert _storage_status(storage_url, s.main_alert) is AlertStatus.OPEN
    page.goto(f"{base}/alerts")
    assert page.locator(f"#alert-{s.main_alert} button.ack").count() == 0  # not logged in
    login(page, base, "/alerts")
    row = page.locator(f"#alert-{s.main_alert}")
    row.locator("button.ack").click()
    page.wait_for_url(f"{base}/alerts")
    assert page.locator(f"#alert-{s.main_alert}").get_attribute("data-status") == "acknowledged"
    assert _storage_status(storage_url, s.main_alert) is AlertStatus.ACKNOWLEDGED
    page.screenshot(path=str(screenshots / "alerts-after-ack.png"), full_page=True)
    assert problems.items == []


def test_writes_without_the_token_are_refused(worker: LiveWorker, page: Page) -> None:
    base, s = worker.base_url, worker.seeded
    storage_url = worker.storage_url
    page.goto(f"{base}/alerts")
    form_post = page.request.post(f"{base}/alerts/{s.script_alert}/resolve",
                                  form={"next": "/alerts"}, max_redirects=0)
    assert form_post.status == 401
    api_post = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST'})).status""",
        f"{base}/api/v1/alerts/{s.script_alert}/resolve",
    )
    assert api_post == 401
    wrong = page.request.post(f"{base}/api/v1/alerts/{s.script_alert}/resolve",
                              headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401
    # Logged in, but a form without the CSRF field (what a forged cross-site post looks like).
    login(page, base, "/alerts")
    forged = page.request.post(f"{base}/alerts/{s.script_alert}/resolve",
                               form={"next": "/alerts"}, max_redirects=0)
    assert forged.status == 403
    assert _storage_status(storage_url, s.script_alert) is AlertStatus.OPEN


def test_script_in_query_text_is_shown_not_run(
    worker: LiveWorker, page: Page, problems: Problems
) -> None:
    base, s = worker.base_url, worker.seeded
    for path in (f"/queries/{s.script_pk}", "/alerts", "/checks", f"/queries/{s.main_pk}",
                 "/"):
        page.goto(base + path, wait_until="networkidle")
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert page.locator("main script:not([type='application/json'])").count() == 0, path
    page.goto(f"{base}/queries/{s.script_pk}")
    assert "<script>window.__pwned = 1; alert(1)</script>" in page.locator(
        "#query-text").inner_text()
    page.goto(f"{base}/queries/{s.main_pk}")
    newest_plan = page.locator("pre.raw-plan").first  # shown open: the one with <img onerror>
    assert "<img src=x onerror=" in newest_plan.inner_text()
    assert page.locator("main img").count() == 0
    assert problems.items == []


def test_no_secret_is_shown(worker: LiveWorker, page: Page) -> None:
    base = worker.base_url
    from integration.web.webseed import DSN_PASSWORD

    for _, path in pages(worker):
        page.goto(base + path)
        assert DSN_PASSWORD not in page.content(), path
    for path in ("/api/v1/summary", "/api/v1/targets", "/api/v1/workers"):
        assert DSN_PASSWORD not in page.request.get(base + path).text(), path


def test_auto_refresh_keeps_the_scroll_position_and_redraws_the_chart(
    worker: LiveWorker, page: Page, problems: Problems
) -> None:
    base, s = worker.base_url, worker.seeded
    page.set_viewport_size({"width": 1000, "height": 500})
    page.goto(f"{base}/queries/{s.main_pk}?refresh=2", wait_until="networkidle")
    before = page.locator("#content").get_attribute("data-generated")
    scrolled = page.evaluate("window.scrollTo(0, 300); window.scrollY")
    assert scrolled > 0
    page.wait_for_function(
        "(before) => document.getElementById('content').dataset.generated !== before",
        arg=before, timeout=15_000,
    )
    assert page.evaluate("window.scrollY") == scrolled
    page.locator("#latency-chart canvas").wait_for()
    assert page.locator("#latency-chart .plan-marker").count() == 1
    assert page.locator("#latency-chart canvas").count() == 1  # the old chart was destroyed
    assert problems.items == []


def test_checks_page_draws_sparklines(worker: LiveWorker, page: Page) -> None:
    page.goto(f"{worker.base_url}/checks")
    spark = page.locator("svg.spark").first
    assert spark.locator("circle").count() == 30
    assert spark.locator("circle.critical").count() == 2
