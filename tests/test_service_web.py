"""The web app (/app/) in a real headless Chromium, driven by Playwright, against a real
``bundleopt serve`` process over SQLite: sign-in, tenants, Compare, Review (a broken
rule shown before saving), approval that exports, CSP and no outside requests; and
hostile input: markup in names, cross-site posts, stolen / expired / revoked cookies,
absurd override prices. In process (TestClient): the sign-in throttle and the cookies'
``Secure`` flag."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pandas as pd
import pytest
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import FLAGS, require_chromium  # noqa: E402
from test_service_support import TLS, Server, database  # noqa: E402

from bundleopt.service.db import make_engine, session_factory  # noqa: E402
from bundleopt.service.models import PlanVersion, WebSession, WeeklyPlan  # noqa: E402
from bundleopt.service.weekly import config_from_mapping, run_week  # noqa: E402

pytestmark = pytest.mark.timeout(400)
ACME, GLOBEX, ADMIN = "tok-acme-web1", "tok-globex-web2", "tok-ops-web3"
ENV = {"BUNDLEOPT_API_TOKENS": f"acme:{ACME},globex:{GLOBEX}",
       "BUNDLEOPT_ADMIN_TOKENS": f"ops:{ADMIN}"}
EVIL = '<script>alert(1)</script>'
EVIL2 = '"><img src=x onerror=alert(2)>'


def payload(scale: float = 1.0, evil: bool = False) -> dict[str, Any]:
    """Like test_service_review's: min_margin 0.3 forbids S1 (cost 6) below 8.57."""
    s1, seg = (EVIL, EVIL2) if evil else ("S1", "A")
    wtp = {(seg, s1): 9.6, (seg, "S2"): 5.0, (seg, "B12"): 13.0,
           ("B", s1): 6.0, ("B", "S2"): 7.9, ("B", "B12"): 11.0}
    return {
        "scenario": {"pricing": "uniform", "choice_model": "first_choice",
                     "constraints": {"min_margin": 0.3}},
        "products": [{"product_id": "P1", "unit_cost": 6, "list_price": 10,
                      **({"name": EVIL2} if evil else {})},
                     {"product_id": "P2", "unit_cost": 3, "list_price": 8}],
        "bundles": [{"bundle_id": s1, "product_id": "P1", "quantity": 1},
                    {"bundle_id": "S2", "product_id": "P2", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P2", "quantity": 1}],
        "segments": [{"segment_id": seg, "size": 500}, {"segment_id": "B", "size": 300}],
        "wtp": [{"segment_id": g, "bundle_id": b, "wtp": round(w * scale, 2)}
                for (g, b), w in wtp.items()]}


def plan_week(url: str, out: Path, name: str, week: str, tenant: str, scale: float = 1.0,
              **extra: Any) -> Any:
    cfg = config_from_mapping({"name": name, "scenario": payload(scale, extra.pop(
        "evil", False)), "export": str(out / tenant / name / "{week}"), **extra},
        "config", base=None)
    return run_week(cfg, week, db_url=url, tenant=tenant)


class User:
    """One person in their own browser context (cookies), recording what pages do."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.ctx = browser.new_context()
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path, wait_until="load")

    def sign_in(self, token: str) -> "User":
        self.go("/app/login")
        self.page.fill("input[name=token]", token)
        self.page.click("#sign-in")
        self.page.wait_for_url("**/app/runs")
        return self

    def cookie(self) -> str:
        return next(c["value"] for c in self.ctx.cookies() if c["name"] == "bundleopt_session")

    def csrf(self) -> str:
        return self.page.get_attribute("input[name=csrf]", "value")

    def clean(self) -> None:
        """No console error (CSP violations are console errors) and nothing fetched
        from anywhere but the service."""
        assert self.errors == []
        outside = [u for u in self.requests if not (u.startswith(self.base + "/")
                                                    or u.startswith(("data:", "about:")))]
        assert outside == []
        assert self.dialogs == []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    require_chromium()
    tmp = tmp_path_factory.mktemp("web")
    with database("sqlite", tmp) as url:
        out = tmp / "exports"
        weeks = {w: plan_week(url, out, "shop", w, "acme", scale)
                 for w, scale in (("2026-W47", 1.0), ("2026-W48", 0.8))}
        gated = plan_week(url, out, "gated", "2026-W48", "acme", approval="required")
        evil = plan_week(url, out, "evil", "2026-W48", "acme", evil=True,
                         approval="required")
        theirs = plan_week(url, out, "globex-shop", "2026-W48", "globex")
        for name in ("bulk-a", "bulk-b"):
            plan_week(url, out, name, "2026-W48", "acme", approval="required")
        srv = Server(url, tmp, workers=1, env=ENV).start()
        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=require_chromium(), headless=True,
                                     args=FLAGS)
        try:
            yield {"srv": srv, "url": url, "out": out, "weeks": weeks, "gated": gated,
                   "evil": evil, "theirs": theirs, "browser": browser, "tmp": tmp}
        finally:
            browser.close()
            pw.stop()
            srv.stop()


def user(site: dict[str, Any], token: str = ACME) -> User:
    return User(site["browser"], site["srv"].base).sign_in(token)


def _table(page: Any, table: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        f"table#{table} tbody tr", "rows => rows.map(r => Object.fromEntries("
        "[...r.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.innerText]))"
        ").filter(r => Object.keys(r).length)")


def test_pages_render_with_charts_no_console_errors_and_no_outside_requests(
        site: dict[str, Any]) -> None:
    u = user(site)
    for path in ("/app/runs", "/app/plans/shop/2026-W48", "/app/plans/shop/2026-W48/review",
                 "/app/compare?name=shop&week=2026-W48", "/app/schedules", "/app/audit",
                 f"/app/solves/{site['weeks']['2026-W48'].solve_id}"):
        r = u.go(path)
        assert r.status == 200, path
        assert "content-security-policy" in r.headers
    u.go("/app/plans/shop/2026-W48")
    u.page.wait_for_timeout(300)
    assert u.errors == [], "\n".join(u.errors + u.requests)
    u.page.wait_for_selector(".plotly-graph-div .main-svg")   # the charts ran under the CSP
    assert u.page.locator("#plan tbody tr").count() == len(
        pd.read_csv(site["out"] / "acme" / "shop" / "2026-W48" / "plan.csv"))
    runs = u.go("/app/runs")
    assert runs.status == 200
    assert u.page.locator("#runs tbody tr").count() == 6       # acme's six weeks
    u.clean()


def test_another_tenants_runs_are_invisible_and_their_urls_404(site: dict[str, Any]) -> None:
    u = user(site, GLOBEX)
    names = u.page.eval_on_selector_all("#runs tbody tr", "rows => rows.map(r => "
                                        "r.cells[2].innerText)")
    assert names == ["globex-shop"]
    mine = site["weeks"]["2026-W48"].solve_id
    assert mine[:8] not in u.page.content()
    for path in ("/app/plans/shop/2026-W48", "/app/plans/shop/2026-W48/review",
                 f"/app/solves/{mine}", "/app/compare?name=shop&week=2026-W48",
                 "/app/plans/nothing/2026-W48"):
        assert u.go(path).status == 404, path
    admin = user(site, ADMIN)
    assert admin.go("/app/plans/shop/2026-W48").status == 200
    assert admin.page.locator("#approve").count() == 0          # read-only: no forms
    # The only console errors: the 404 answers themselves.
    assert all("status of 404" in e for e in u.errors) and len(u.errors) == 5
    u.errors.clear()
    u.clean()
    admin.clean()


def test_compare_shows_exactly_the_price_moves_in_the_two_plan_files(
        site: dict[str, Any]) -> None:
    old = pd.read_csv(site["out"] / "acme" / "shop" / "2026-W47" / "plan.csv", dtype={
        "bundle_id": str, "segment_id": str})
    new = pd.read_csv(site["out"] / "acme" / "shop" / "2026-W48" / "plan.csv", dtype={
        "bundle_id": str, "segment_id": str})
    both = old.merge(new, on=["bundle_id", "segment_id"], suffixes=("_old", "_new"))
    moved = both[(both["price_old"] - both["price_new"]).abs() > 0.004]
    expected = sorted((r.bundle_id, f"{r.price_old:,.2f}", f"{r.price_new:,.2f}")
                      for r in moved.itertuples())
    assert expected, "the two weeks should differ in price"
    u = user(site)
    u.go("/app/compare?name=shop&week=2026-W48")          # default: against last week
    assert "2026-W47" in u.page.inner_text("#left") and "2026-W48" in u.page.inner_text(
        "#right")
    shown = sorted((r["bundle_id"], r["old"], r["new"]) for r in _table(u.page, "moves"))
    assert shown == expected
    added = set(new["bundle_id"]) - set(old["bundle_id"])
    dropped = set(old["bundle_id"]) - set(new["bundle_id"])
    assert {r["bundle_id"] for r in _table(u.page, "added")} == added
    assert {r["bundle_id"] for r in _table(u.page, "dropped")} == dropped
    u.clean()


def _versions(url: str, name: str, week: str = "2026-W48") -> int:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            w = s.query(WeeklyPlan).filter_by(name=name, week=week).one()
            return s.query(PlanVersion).filter_by(weekly_id=w.id).count()
    finally:
        engine.dispose()


def test_a_broken_min_margin_is_shown_and_not_saved_then_approval_exports(
        site: dict[str, Any]) -> None:
    out = site["out"] / "acme" / "gated" / "2026-W48"
    assert not out.exists()                                # approval required
    u = user(site)
    u.go("/app/plans/gated/2026-W48/review")
    u.page.select_option("select[data-offer=S1]", "7.00")
    u.page.click("#check")
    assert "min_margin" in u.page.inner_text("#violations")
    u.page.select_option("select[data-offer=S1]", "7.00")
    u.page.click("#save")
    assert "Not saved" in u.page.inner_text("#error") and "min_margin" in u.page.inner_text(
        "#error")
    assert _versions(site["url"], "gated") == 0
    u.page.select_option("select[data-offer=S1]", "10.00")
    u.page.click("#check")
    assert u.page.locator("#violations").count() == 0
    u.page.select_option("select[data-offer=S1]", "10.00")
    u.page.click("#save")
    assert "saved as version 1" in u.page.inner_text("#flash")
    assert _versions(site["url"], "gated") == 1
    assert not out.exists()
    u.page.select_option("#decide-form select[name=version]", "1")
    u.page.fill("#decide-form input[name=comment]", "checked with the buyer")
    u.page.click("#approve")
    assert "approved version 1 and exported" in u.page.inner_text("#flash")
    written = pd.read_csv(out / "plan.csv")
    assert dict(zip(written["bundle_id"], written["price"]))["S1"] == 10.0
    assert json.loads((out / "summary.json").read_text())["version"] == 1
    u.go("/app/audit")
    text = u.page.inner_text("#audit")
    assert "override" in text and "approve" in text and "export" in text
    u.clean()


def test_bulk_approve_exports_every_ticked_week(site: dict[str, Any]) -> None:
    out = site["out"] / "acme"
    assert not (out / "bulk-a").exists() and not (out / "bulk-b").exists()
    u = user(site)
    u.go("/app/runs?week=2026-W48")
    for name in ("bulk-a", "bulk-b"):
        u.page.check(f"input[name=week][value='{name}/2026-W48']")
    u.page.click("#bulk-approve")
    assert "approved 2 week(s)" in u.page.inner_text("#flash")
    for name in ("bulk-a", "bulk-b"):
        assert (out / name / "2026-W48" / "plan.csv").exists()
    u.clean()


def test_markup_in_names_is_shown_as_text_everywhere(site: dict[str, Any]) -> None:
    u = user(site)
    for path in ("/app/plans/evil/2026-W48", "/app/plans/evil/2026-W48/review",
                 "/app/compare?name=evil&week=2026-W48"):
        assert u.go(path).status == 200
        u.page.wait_for_timeout(200)
        if "review" in path:
            assert EVIL in u.page.inner_text("#review")
            assert EVIL2 in u.page.inner_text("#review")
        elif "compare" not in path:
            assert EVIL in u.page.inner_text("#plan") and EVIL2 in u.page.inner_text("#plan")
        assert u.page.locator("main img").count() == 0
        assert u.page.locator("main script:not([nonce]):not([src])").count() == 0
    # A rejection comment with markup, shown back as text.
    u.go("/app/plans/evil/2026-W48/review")
    u.page.fill("#decide-form input[name=comment]", EVIL2)
    u.page.click("#reject")
    assert u.page.inner_text("#review-state") == "rejected"
    assert EVIL2 in u.page.inner_text("main")
    u.go("/app/audit")
    assert EVIL2 in u.page.inner_text("#audit")
    u.clean()


def _post(site: dict[str, Any], path: str, cookie: str, data: dict[str, str],
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(site["srv"].base + path, data=data, cookies={"bundleopt_session": cookie},
                      headers=headers or {}, verify=TLS, follow_redirects=False, timeout=30)


def test_cross_site_form_posts_are_refused(site: dict[str, Any], tmp_path: Path) -> None:
    u = user(site)
    u.go("/app/plans/shop/2026-W48/review")
    cookie, csrf = u.cookie(), u.csrf()
    path = "/app/plans/shop/2026-W48/decide"
    form = {"csrf": csrf, "action": "reject", "comment": "forged"}
    assert _post(site, path, cookie, form, {"Origin": "http://evil.example"}).status_code == 403
    assert _post(site, path, cookie, form, {"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _post(site, path, cookie, {**form, "csrf": "guess"}).status_code == 403
    # A page on another origin posting a form in the signed-in browser: refused too.
    evil = tmp_path / "evil.html"
    evil.write_text(f'<form id=f method=post action="{site["srv"].base}{path}">'
                    '<input name=action value=reject><input name=comment value=forged>'
                    '</form>')
    u.page.goto(evil.as_uri())
    with u.page.expect_navigation() as nav:
        u.page.evaluate("document.getElementById('f').submit()")
    assert nav.value.status == 403
    u.go("/app/plans/shop/2026-W48")
    assert u.page.inner_text("#review-state") != "rejected"


def test_stolen_expired_and_revoked_cookies_are_refused(site: dict[str, Any],
                                                        tmp_path: Path) -> None:
    srv = site["srv"]
    u = user(site)
    stolen = u.cookie()
    page = httpx.get(srv.base + "/app/runs", cookies={"bundleopt_session": stolen},
                     verify=TLS, follow_redirects=False)
    assert page.status_code == 200
    # Signing out ends the session for whoever holds its cookie.
    u.go("/app/runs")
    u.page.click("text=Sign out")
    page = httpx.get(srv.base + "/app/runs", cookies={"bundleopt_session": stolen},
                     verify=TLS, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/app/login"
    # Expired: the database says so (every instance reads the same sessions).
    u2 = user(site)
    engine = make_engine(site["url"])
    with session_factory(engine)() as s:
        s.execute(update(WebSession).values(expires_at=WebSession.created_at))
        s.commit()
    assert u2.go("/app/runs").url.endswith("/app/login")
    # A second instance over the same database knows the sessions; one whose
    # configuration no longer has the token refuses them.
    u3 = user(site)
    cookie = u3.cookie()
    for env, code in ((ENV, 200), ({**ENV, "BUNDLEOPT_API_TOKENS": f"globex:{GLOBEX}"},
                                   303)):
        server = Server(site["url"], tmp_path, workers=1, env=env).start()
        try:
            r = httpx.get(server.base + "/app/runs", cookies={"bundleopt_session": cookie},
                          verify=TLS, follow_redirects=False)
            assert r.status_code == code
        finally:
            server.stop()
    with session_factory(engine)() as s:
        left = s.query(WebSession).filter_by(tenant="acme").count()
    engine.dispose()
    assert left == 0        # the revoked instance deleted acme's sessions when it started


@pytest.mark.parametrize("value, words", [
    ("NaN", "NaN is not a price"), ("-5", "prices are positive"),
    ("1e308", "is not a price (at most"), ("9.70", "is not a point of S1"),
    ("abc", "is not a number")])
def test_absurd_override_prices_get_a_clear_message(site: dict[str, Any], value: str,
                                                    words: str) -> None:
    u = user(site)
    u.go("/app/plans/shop/2026-W47/review")
    rows = _table(u.page, "review")
    i = next(k for k, r in enumerate(rows) if r["bundle_id"] == "S1")
    r = _post(site, "/app/plans/shop/2026-W47/review", u.cookie(),
              {"csrf": u.csrf(), "base": "0", f"p{i}": value, "action": "save"})
    assert r.status_code == 422
    message = re.search(r'id="error">([^<]*)<', r.text).group(1)
    assert words in message.replace("&#39;", "'")
    assert _versions(site["url"], "shop", "2026-W47") == 0


# ------------------------------------------- in process: sign-in throttle, Secure cookies
def _signin_app(url: str, **settings: Any) -> Any:
    from bundleopt.service.app import create_app
    from bundleopt.service.limits import ServiceSettings

    return create_app(ServiceSettings(db_url=url, tokens=[f"acme:{ACME}"], **settings))


def _login_form(c: Any) -> tuple[str, str]:
    """(the sign-in form's CSRF token, the Set-Cookie header that carries it)."""
    r = c.get("/app/login")
    assert r.status_code == 200
    return (re.search(r'name="csrf" value="([^"]+)"', r.text).group(1),
            r.headers["set-cookie"])


def _try(c: Any, token: str) -> Any:
    csrf, _ = _login_form(c)
    return c.post("/app/login", data={"token": token, "csrf": csrf},
                  headers={"cookie": f"bundleopt_login={csrf}"}, follow_redirects=False)


def test_failed_sign_ins_are_limited_per_address_and_per_token(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    with database("sqlite", tmp_path) as url:
        # Three failures at once, then one every two minutes: nothing refills in this test.
        app = _signin_app(url, login_burst=3, login_per_minute=0.5)
        here = TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.1", 1000))
        there = TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.2", 1000))
        third = TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.3", 1000))
        with here, there, third:
            for i in range(3):
                r = _try(here, f"wrong-{i}")
                assert r.status_code == 303 and "error=" in r.headers["location"]
            # The address has no attempts left: refused before any token is checked,
            # the right one included.
            for token in ("wrong-3", ACME):
                r = _try(here, token)
                assert r.status_code == 429
                assert 1 <= int(r.headers["retry-after"]) <= 120
                assert "Too many failed sign-in attempts" in r.text
                assert "bundleopt_session" not in r.headers.get("set-cookie", "")
            # Another address may still try, and sign in ...
            assert _try(there, "wrong-9").status_code == 303
            ok = _try(there, ACME)
            assert ok.status_code == 303 and ok.headers["location"] == "/app/runs"
            # ... but no address may go on with a token that has failed three times.
            assert _try(there, "wrong-0").status_code == 303     # its 2nd failure
            assert _try(there, "wrong-0").status_code == 303     # its 3rd
            assert _try(third, "wrong-0").status_code == 429     # a fresh address
            assert _try(third, "wrong-7").status_code == 303     # another token: tried


def test_the_sign_in_throttle_forgets_the_least_recent_keys_first() -> None:
    from bundleopt.service.limits import RateBuckets

    buckets = RateBuckets(rate=1e-9, burst=1, max_keys=50)
    assert buckets.take("guesser") is None
    for i in range(5000):                  # the guesser keeps trying, with new tokens
        assert buckets.take("guesser") is not None
        buckets.take(f"token-{i}")
        assert len(buckets) <= 50
    assert buckets.take("guesser") is not None     # never forgotten while it keeps at it
    assert buckets.take("token-0") is None          # long forgotten: starts full again


@pytest.mark.parametrize("mode, base, secure", [
    ("auto", "http://127.0.0.1:8000", False), ("auto", "http://localhost", False),
    ("auto", "http://[::1]:8000", False), ("auto", "https://127.0.0.1", True),
    # Behind a TLS-terminating proxy: plain HTTP to the service, the public name in Host.
    ("auto", "http://plans.example.com", True),
    ("always", "http://127.0.0.1", True), ("never", "https://plans.example.com", False)])
def test_the_cookies_say_secure_as_configured(tmp_path: Path, mode: str, base: str,
                                              secure: bool) -> None:
    from fastapi.testclient import TestClient

    with database("sqlite", tmp_path) as url:
        with TestClient(_signin_app(url, secure_cookies=mode), base_url=base) as c:
            csrf, login_cookie = _login_form(c)
            assert ("; secure" in login_cookie.lower()) is secure
            r = c.post("/app/login", data={"token": ACME, "csrf": csrf},
                       headers={"cookie": f"bundleopt_login={csrf}"}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/app/runs"
            session = next(h for h in r.headers.get_list("set-cookie")
                           if h.startswith("bundleopt_session="))
            assert ("; secure" in session.lower()) is secure
            assert "httponly" in session.lower() and "samesite=strict" in session.lower()
            # The page warns when the cookie could not come back over this connection.
            warned = 'id="https-only"' in c.get("/app/login").text
            assert warned is (secure and base.startswith("http:"))


def test_secure_cookies_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bundleopt.service.limits import ServiceSettings
    from formulations.errors import ParameterError

    assert ServiceSettings.from_env("sqlite://", ["t"]).secure_cookies == "auto"
    monkeypatch.setenv("BUNDLEOPT_SECURE_COOKIES", "Always")
    assert ServiceSettings.from_env("sqlite://", ["t"]).secure_cookies == "always"
    monkeypatch.setenv("BUNDLEOPT_SECURE_COOKIES", "sometimes")
    with pytest.raises(ParameterError, match="BUNDLEOPT_SECURE_COOKIES='sometimes'"):
        ServiceSettings.from_env("sqlite://", ["t"])
