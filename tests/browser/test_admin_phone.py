"""The researcher pages on a 390 px phone: no page-wide horizontal scrolling (tables
scroll inside their own region, navigation wraps) (issue 12)."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402

from .conftest import ARTIFACTS, ROOT, cli  # noqa: E402
from .helpers import describe, open_url, path_of, run_axe, screenshot, submit  # noqa: E402

pytestmark = pytest.mark.browser

PHONE = (390, 844)
PAGES = [
    ("dashboard", "/admin/"),
    ("campaign", "/admin/campaigns/{slug}"),
    ("campaign with brands", "/admin/campaigns/{slug}br"),  # its screened-out count row
    ("report", "/admin/reports/{slug}"),
    ("users", "/admin/users"),
    ("audit log", "/admin/audit"),
]

#: elements wider than the viewport that are not inside a scrolling region of their own
OVERFLOW = """
const vw = document.documentElement.clientWidth;
const bad = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= vw + 1) continue;
  let p = el.parentElement, scrolled = false;
  while (p) {
    const s = getComputedStyle(p);
    if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && p.clientWidth <= vw + 1) {
      scrolled = true; break;
    }
    p = p.parentElement;
  }
  if (!scrolled) bad.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                          + ' ' + Math.round(r.right));
}
return [document.documentElement.scrollWidth, vw, bad.slice(0, 8)];
"""


def _sign_in(driver, base: str, user: str, password: str) -> None:
    open_url(driver, f"{base}/admin/login")
    form = driver.find_element(By.TAG_NAME, "form")
    form.find_element(By.CSS_SELECTOR, "input[autocomplete=username]").send_keys(user)
    form.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(password)
    submit(driver)
    assert "/login" not in path_of(driver), "could not sign in"


def test_researcher_pages_fit_a_phone(server, survey, driver):
    s = survey(invitations=0)
    cli("demo", "--db", str(server.db_path), "--slug", s.slug, "--n", "400", "--seed", "4")
    cli("campaign", "create", "--db", str(server.db_path), "--instrument", "customer-trust",
        "--slug", f"{s.slug}br", "--period", "2026-Q4",
        "--brand", "acme: Acme", "--brand", "globex: Globex")  # fmt: skip
    password = "phone-Passw0rd-for-tests"
    cli(
        "user",
        "add",
        "--db",
        str(server.db_path),
        "--role",
        "admin",
        "--password-stdin",
        f"phone{s.slug}",
        input=password + "\n",
    )
    _sign_in(driver, server.base_url, f"phone{s.slug}", password)
    problems, shots = [], {}
    for name, path in PAGES:
        open_url(driver, server.base_url + path.format(slug=s.slug))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
        )
        try:
            page_width, viewport, bad = driver.execute_script(OVERFLOW)
        finally:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        if page_width > viewport + 1 or bad:
            problems.append(
                f"{name}: page {page_width}px on a {viewport}px screen; "
                f"outside any scroll region: {bad}"
            )
        shots[name] = screenshot(
            driver,
            ARTIFACTS / f"admin-{name.replace(' ', '-')}-phone.png",
            width=PHONE[0],
            height=PHONE[1],
            mobile=True,
            scale=2,
        )
    assert not problems, "\n".join(problems)
    if os.environ.get("TRUSTMETER_UPDATE_SCREENSHOTS") == "1":
        from .test_readme_screenshots import _shrink

        target = ROOT / "docs" / "screenshots" / "dashboard-mobile.png"
        shutil.copyfile(shots["dashboard"], target)
        _shrink(target, max_width=720)


def test_standalone_reports_pass_axe(server, survey, driver, axe_source, tmp_path):
    s = survey(invitations=0)
    cli("demo", "--db", str(server.db_path), "--slug", s.slug, "--n", "500", "--seed", "5")
    report = tmp_path / "report.html"
    cli(
        "report",
        "--db",
        str(server.db_path),
        "--campaign",
        s.slug,
        "--segment",
        "segment",
        "--html",
        str(report),
    )
    analyze = tmp_path / "analyze.html"
    cli(
        "analyze",
        str(ROOT / "tests/reference/trust_synthetic.csv"),
        "--instrument",
        str(ROOT / "tests/reference/trust_synthetic.yaml"),
        "--group",
        "language",
        "--segment",
        "segment",
        "--period",
        "period",
        "--html",
        str(analyze),
    )
    findings = []
    for path in (report, analyze):
        driver.get(path.as_uri())
        assert driver.find_elements(By.CSS_SELECTOR, "main"), f"{path.name}: no main landmark"
        findings += describe(run_axe(driver, axe_source), path.name)
        screenshot(driver, ARTIFACTS / f"standalone-{path.stem}.png", width=1024, height=900)
    assert not findings, "serious or critical accessibility violations:\n" + "\n".join(findings)
