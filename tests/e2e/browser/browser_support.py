"""Shared by the browser tests and their fixtures: logging in through the form."""

from __future__ import annotations

from playwright.sync_api import Page

TOKEN = "browser-test-token"


def login(page: Page, base_url: str, then: str) -> None:
    """Log in through the form, as a person would; ends on `then`."""
    page.goto(f"{base_url}/login?next={then}")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{then}")
