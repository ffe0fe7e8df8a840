"""The operations page end to end in headless Chromium (Playwright for Python, the system's Chromium).

Skips only where no Chromium is installed (Debian: apt-get install chromium; .ci/run does it). The finished
page's screenshot is saved as artifacts/service-page.png (or under $SENDOPT_ARTIFACTS).
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from tests.service.conftest import TODAY, WRITE_TOKEN

CHROMIUM = next((p for p in (os.environ.get("SENDOPT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and os.path.exists(p)), None)
ARTIFACTS = Path(os.environ.get("SENDOPT_ARTIFACTS") or Path(__file__).resolve().parents[2] / "artifacts")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make venv)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_request_to_plans_in_the_browser(service_env, browser):
    client = service_env[0]
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.goto(client.base + "/")
    page.fill("#token", WRITE_TOKEN)
    page.fill("#merchant-search", "pizza")
    page.click("#merchant-results button")
    assert page.input_value("#merchant_id") == "1"
    page.fill("#start_date", (TODAY + dt.timedelta(days=5)).isoformat())
    page.fill("#end_date", (TODAY + dt.timedelta(days=18)).isoformat())

    # a bad budget is refused inline, before anything is sent
    page.fill("#budget", "-5")
    page.click("#submit")
    assert "must be a number > 0" in page.text_content("#err-budget")
    assert page.get_attribute("#budget", "aria-invalid") == "true"
    # the server's own validation (a campaign longer than allowed) shows beside its field
    page.fill("#budget", "400")
    page.fill("#end_date", (TODAY + dt.timedelta(days=200)).isoformat())
    page.click("#submit")
    page.wait_for_function("document.getElementById('err-end_date').textContent.length > 0")
    assert "days" in page.text_content("#err-end_date")
    assert page.text_content("#err-budget") == ""

    page.fill("#end_date", (TODAY + dt.timedelta(days=18)).isoformat())
    page.click("#submit")
    page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=90_000)
    rows = page.locator("#plans tbody tr")
    assert rows.count() == 3
    first = rows.nth(0).locator("td").all_text_contents()
    assert first[0] == "1" and "new: d15_v0_m0" in first[1] and "net_revenue 90.00 [70.00, 110]" in first[3]
    assert page.locator("#plans tbody tr.chosen").count() == 1
    assert page.locator("#pareto svg circle.chosen").count() == 1
    assert page.locator("#segments-table tbody tr").count() == 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "service-page.png"), full_page=True)
    page.close()
