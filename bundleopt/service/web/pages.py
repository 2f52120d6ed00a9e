"""The web app's pages under ``/app/`` (server-rendered, plain forms, no script of its
own): sign-in, Runs, a plan, Compare, Review, Schedules and Audit.

Every page reads through the same tenant-scoped queries as the API and answers 404
for another tenant's run or week exactly as for one that does not exist; admins see
every tenant and change nothing (no forms; a POST is 403). Changes go through the same
functions as the API (:mod:`..weekly.versions`, :mod:`..weekly.approval`,
:func:`..schedules.run_now`) and are audited the same way. Each POST needs the
session's CSRF token and a same-site request (:mod:`.sessions`).
"""
from __future__ import annotations

import math
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from formulations.errors import BundleoptError, InputError

from .. import queries, queue, schedules
from ..auth import Caller
from ..deps import Service, service
from ..limits import safe_text
from ..models import SOLVE_STATUSES, Audit, Plan, Solve, WeeklyPlan
from ..schemas import NAME_RE, SOLVE_ID_RE, WEEK_RE
from ..weekly import approval, versions
from . import sessions
from .compare import Side, compare
from .render import page, report_sections
from .static import STATIC

router = APIRouter(prefix="/app", include_in_schema=False)
PAGE_SIZE = 50
MAX_FORM_BYTES = 2 * 1024 * 1024
WEB_KEY = "bundleopt.web"


class SignIn(Exception):
    """No valid session: a page sends the browser to sign in, a POST is refused."""


def _signed_in(request: Request, s: Session) -> Caller:
    found = sessions.lookup(s, request.cookies.get(sessions.COOKIE), service(request).tokens)
    if found is None:
        raise SignIn()
    who, row = found
    request.scope[WEB_KEY] = {"who": who, "csrf": row.csrf}
    return who


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                          keep_blank_values=True).items()}


def _checked_post(request: Request, s: Session, form: dict[str, str]) -> Caller:
    """The caller of a form post: signed in, same site, right CSRF token, not an admin."""
    if sessions.cross_site(request.headers, request.headers.get("host", "")):
        raise HTTPException(403, "cross-site form posts are refused")
    found = sessions.lookup(s, request.cookies.get(sessions.COOKIE), service(request).tokens)
    if found is None:
        raise HTTPException(403, "not signed in (or the session expired); sign in again")
    who, row = found
    if not sessions.same_token(row.csrf, form.get("csrf")):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
    if who.admin:
        raise HTTPException(403, "admin sessions are read-only")
    request.scope[WEB_KEY] = {"who": who, "csrf": row.csrf}
    return who


def _back(url: str, **flash: str) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(url + (sep + urlencode(flash) if flash else ""), status_code=303)


def _not_found(request: Request, what: str) -> Response:
    return page(request, "error.html", code=404, title="Not found", message=what)


# ----------------------------------------------------------------- sign in / out
@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/app/runs", status_code=303)


@router.get("/login")
def login_form(request: Request, error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    secure = _secure(request)
    resp = page(request, "login.html", login_csrf=token, error=error[:200],
                https_only=secure and request.url.scheme != "https")
    resp.set_cookie(sessions.LOGIN_COOKIE, token, max_age=1800, httponly=True,
                    samesite="strict", path="/app", secure=secure)
    return resp


def _secure(request: Request) -> bool:
    """Whether this answer's cookies say ``Secure`` (:func:`.sessions.secure_cookie`)."""
    return sessions.secure_cookie(service(request).settings.secure_cookies,
                                  request.url.scheme, request.headers.get("host", ""))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: dict[str, str]) -> Response:
    if sessions.cross_site(request.headers, request.headers.get("host", "")) or \
            not sessions.same_token(request.cookies.get(sessions.LOGIN_COOKIE),
                                    form.get("csrf")):
        raise HTTPException(403, "the sign-in form is stale or came from another site; "
                            "reload it")
    svc = service(request)
    token = form.get("token", "")[:4096]
    throttle = request.app.state.login_throttle
    client = request.client.host if request.client else None
    wait = throttle.wait(client, token)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        resp = page(request, "error.html", code=429, title="Too many sign-in attempts",
                    message=f"Too many failed sign-in attempts from this address or with "
                    f"this token. Try again in {seconds} seconds.")
        resp.headers["retry-after"] = str(seconds)
        return resp
    who = svc.tokens.token_caller(token)
    if who is None:
        throttle.failed(client, token)
        return _back("/app/login", error="That token is not valid for this service.")
    with svc.write_turn, svc.writes() as s:
        sessions.purge(s, svc.tokens)
        sid, _ = sessions.create(s, who)
        s.commit()
    resp = RedirectResponse("/app/runs", status_code=303)
    resp.set_cookie(sessions.COOKIE, sid, **sessions.cookie_args(
        sessions.SESSION_SECONDS, _secure(request)))
    resp.delete_cookie(sessions.LOGIN_COOKIE, path="/app", secure=_secure(request),
                       httponly=True, samesite="strict")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_logout, request, form)


def _logout(request: Request, form: dict[str, str]) -> Response:
    svc = service(request)
    with svc.write_turn, svc.writes() as s:
        found = sessions.lookup(s, request.cookies.get(sessions.COOKIE), svc.tokens)
        if found is not None and sessions.same_token(found[1].csrf, form.get("csrf")):
            sessions.end(s, request.cookies.get(sessions.COOKIE))
            s.commit()
    resp = RedirectResponse("/app/login", status_code=303)
    resp.delete_cookie(sessions.COOKIE, path="/app", secure=_secure(request), httponly=True,
                       samesite="strict")
    return resp


# ----------------------------------------------------------------------- runs
TILES = SOLVE_STATUSES


@router.get("/runs")
def runs(request: Request, name: str = "", week: str = "", status: str = "",
         page_no: int = Query(1, alias="page"), msg: str = "") -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _signed_in(request, s)
        name = name if NAME_RE.match(name) else ""
        week = week if WEEK_RE.match(week) else ""
        status = status if status in SOLVE_STATUSES else ""
        page_no = max(1, min(page_no, 10**6))
        tenant = None if who.admin else who.tenant
        rows = queries.list_runs(s, tenant=tenant, name=name or None, week=week or None,
                                 status=status or None, limit=PAGE_SIZE + 1,
                                 offset=(page_no - 1) * PAGE_SIZE)
        counts = queries.run_counts(s, tenant=tenant)
    more = len(rows) > PAGE_SIZE
    query = {k: v for k, v in (("name", name), ("week", week), ("status", status)) if v}
    return page(request, "runs.html", title="Runs", runs=rows[:PAGE_SIZE], counts=counts,
                tiles=TILES, name=name, week=week, status=status, page_no=page_no,
                more=more, query=query, urlencode=urlencode, msg=msg[:300])


@router.post("/approve")
async def bulk_approve(request: Request) -> Response:
    """Approve the latest version of every week ticked on the Runs page."""
    body = await request.body()
    pairs = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return await run_in_threadpool(_bulk_approve, request, pairs)


def _bulk_approve(request: Request, pairs: dict[str, list[str]]) -> Response:
    form = {k: v[-1] for k, v in pairs.items()}
    svc = service(request)
    done, problems = 0, []
    with svc.write_turn, svc.writes() as s:
        who = _checked_post(request, s, form)
        for item in pairs.get("week", [])[:500]:
            name, _, week = item.partition("/")
            w = (queries.find_weekly(s, name, week, tenant=who.tenant)
                 if NAME_RE.match(name) and WEEK_RE.match(week) else None)
            if w is None:
                problems.append(f"{item[:140]}: not found")
                continue
            try:
                approval.approve(s, w, None, who.actor, form.get("comment") or None)
                done += 1
            except (approval.ReviewConflict, LookupError, BundleoptError) as err:
                problems.append(f"{item[:140]}: {err}")
        s.commit()
    msg = f"approved {done} week(s)" + (f"; {'; '.join(problems)}" if problems else "")
    return _back("/app/runs", msg=msg[:300])


# ---------------------------------------------------------------- a plan (solve)
def _weekly_or_404(s: Session, who: Caller, name: str, week: str) -> WeeklyPlan | None:
    if not (NAME_RE.match(name) and WEEK_RE.match(week)):
        return None
    return (queries.find_weekly_all_tenants(s, name, week) if who.admin
            else queries.find_weekly(s, name, week, tenant=who.tenant))


def _summary_for(solve: Solve, v: versions.Version | None) -> dict[str, Any]:
    summary = dict(solve.summary or {"status": solve.status})
    summary["status"] = solve.status
    if v is not None and v.overridden:
        summary.update(objective=v.objective, gap=v.gap, kpis=v.kpis,
                       binding_constraints=v.binding)
        # Per-segment and per-product figures are the optimizer's plan's: not shown.
        summary.pop("segments", None)
        summary.pop("products", None)
    return summary


@router.get("/solves/{solve_id}")
def solve_page(request: Request, solve_id: str) -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _signed_in(request, s)
        solve = None
        if SOLVE_ID_RE.match(solve_id):
            solve = (queries.find_solve_all_tenants(s, solve_id) if who.admin
                     else queries.find_solve(s, solve_id, tenant=who.tenant))
        if solve is None:
            return _not_found(request, f"No run {safe_text(solve_id)[:64]}.")
        plan = s.scalars(select(Plan).where(Plan.solve_id == solve.id)).first()
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.solve_id == solve.id)).first()
        rows = plan.rows if plan else []
    summary = _summary_for(solve, None)
    charts = report_sections((solve.id, -1), summary, rows,
                             request.scope.get("bundleopt.nonce", "")) if rows else ""
    return page(request, "plan.html", title=f"Run {solve.id}", solve=solve, week=w,
                version=None, versions=[], rows=rows, summary=summary, charts=charts,
                kpis=summary.get("kpis") or {}, binding=summary.get("binding_constraints")
                or [])


@router.get("/plans/{name}/{week}")
def weekly_page(request: Request, name: str, week: str, version: int | None = None
                ) -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _signed_in(request, s)
        w = _weekly_or_404(s, who, name, week)
        if w is None:
            return _not_found(request, f"No plan {safe_text(name)[:128]!r} for week "
                              f"{safe_text(week)[:16]}.")
        solve = s.get(Solve, w.solve_id) if w.solve_id else None
        all_versions = versions.list_versions(s, w)
    if version is None:
        shown = approval.exportable_version(w)
        version = shown if shown is not None else (all_versions[-1].version
                                                    if all_versions else None)
    v = next((x for x in all_versions if x.version == version), None)
    if all_versions and v is None:
        return _not_found(request, f"Week {w.week} of {w.name!r} has no version {version}.")
    summary = _summary_for(solve, v) if solve else {"status": w.status}
    rows = v.rows if v else []
    charts = (report_sections((solve.id, v.version), summary, rows,
                              request.scope.get("bundleopt.nonce", ""))
              if v and rows else "")
    return page(request, "plan.html", title=f"{w.name} · {w.week}", solve=solve, week=w,
                version=v, versions=all_versions, rows=rows, summary=summary,
                charts=charts, kpis=v.kpis if v else {}, binding=v.binding if v else [])


# ---------------------------------------------------------------------- compare
def _side_of_week(s: Session, w: WeeklyPlan) -> Side | None:
    shown = approval.exportable_version(w)
    v = versions.get_version(s, w, shown)   # None: the latest
    if v is None:
        return None
    label = f"{w.name} {w.week} (version {v.version})"
    return Side(label, v.rows, v.kpis, v.objective, v.binding)


def _side_of_solve(s: Session, solve: Solve) -> Side:
    plan = s.scalars(select(Plan).where(Plan.solve_id == solve.id)).first()
    summary = solve.summary or {}
    return Side(f"run {solve.id}", plan.rows if plan else [], dict(summary.get("kpis") or {}),
                solve.objective, list(summary.get("binding_constraints") or []))


@router.get("/compare")
def compare_page(request: Request, name: str = "", week: str = "", other: str = "",
                 a: str = "", b: str = "") -> Response:
    """Two weeks of a weekly plan (default: ``week`` against the week stored before it),
    or two runs by id (``a`` old, ``b`` new)."""
    svc = service(request)
    with svc.reads() as s:
        who = _signed_in(request, s)
        if a or b:
            def find(sid: str) -> Solve | None:
                if not SOLVE_ID_RE.match(sid):
                    return None
                return (queries.find_solve_all_tenants(s, sid) if who.admin
                        else queries.find_solve(s, sid, tenant=who.tenant))
            old, new = find(a), find(b)
            if old is None or new is None:
                return _not_found(request, "No such run.")
            left, right = _side_of_solve(s, old), _side_of_solve(s, new)
            weeks: list[str] = []
        else:
            w = _weekly_or_404(s, who, name, week)
            if w is None:
                return _not_found(request, f"No plan {safe_text(name)[:128]!r} for week "
                                  f"{safe_text(week)[:16]}.")
            weeks = [x.week for x in queries.list_weekly_all_tenants(s, name=w.name, limit=200)
                     if x.tenant == w.tenant and x.week != w.week]
            if not other:
                other = next((x for x in weeks if x < w.week), weeks[0] if weeks else "")
            o = (s.scalars(select(WeeklyPlan).where(
                WeeklyPlan.tenant == w.tenant, WeeklyPlan.name == w.name,
                WeeklyPlan.week == other)).first() if WEEK_RE.match(other) else None)
            if o is None:
                return page(request, "compare.html", title=f"Compare {w.name}", week=w,
                            weeks=weeks, other="", result=None, left=None, right=None)
            first, second = (o, w) if o.week < w.week else (w, o)
            left, right = _side_of_week(s, first), _side_of_week(s, second)
            if left is None or right is None:
                return page(request, "compare.html", title=f"Compare {w.name}", week=w,
                            weeks=weeks, other=other, result=None, left=None, right=None)
            name, week = w.name, w.week
    return page(request, "compare.html", title="Compare", week=None if a or b else w,
                weeks=weeks, other=other, result=compare(left, right), left=left,
                right=right)


# ----------------------------------------------------------------------- review
def _review(request: Request, svc: Service, who: Caller, name: str, week: str,
            base: int | None = None, changes: list[dict[str, Any]] | None = None,
            checked: versions.Evaluated | None = None, error: str = "",
            status: int = 200, msg: str = "",
            loaded: tuple[WeeklyPlan, list[versions.Version]] | None = None) -> Response:
    """The Review page; ``loaded``: the week and its versions, already read."""
    with svc.reads() as s:
        w = _weekly_or_404(s, who, name, week) if loaded is None else loaded[0]
        if w is None:
            return _not_found(request, f"No plan {safe_text(name)[:128]!r} for week "
                              f"{safe_text(week)[:16]}.")
        all_versions = versions.list_versions(s, w) if loaded is None else loaded[1]
        v = (next((x for x in all_versions if x.version == base), None) if base is not None
             else all_versions[-1] if all_versions else None)
        ladders = versions.week_scenario(s, w).points if v is not None else {}
    chosen = {(c.get("period"), c["bundle_id"], c["segment_id"]): c["price"]
              for c in changes or []}
    rows = v.rows if v else []
    return page(request, "review.html", code=status, title=f"Review {w.name} · {w.week}",
                week=w, version=v, versions=all_versions, options=_options(
                    rows, ladders, chosen), checked=checked, error=error, msg=msg[:300],
                rows=rows)


def _options(rows: list[dict[str, Any]], ladders: dict[str, list[float]],
             chosen: dict[tuple[str, str], Any]) -> list[Markup]:
    """Each review row's ``<option>``s: keep, its ladder's points, off sale — the one
    asked for selected. Prices only (numbers we format), so no user text is in them;
    built here once per offer rather than in the template, point by point, per row."""
    plain: dict[str, str] = {}

    def points(bundle: str, want: Any) -> str:
        pts = ladders.get(bundle, [])
        sel = (lambda p: " selected" if isinstance(want, float) and abs(want - p) < 0.005
               else "")
        return "".join(f'<option value="{p:.2f}"{sel(p)}>{p:,.2f}</option>' for p in pts)

    out = []
    for r in rows:
        bundle = str(r["bundle_id"])
        want = chosen.get((r.get("period"), r["bundle_id"], r["segment_id"]), "")
        if want == "" or isinstance(want, str):
            body = plain.get(bundle)
            if body is None:
                body = plain[bundle] = points(bundle, "")
        else:
            body = points(bundle, want)
        off = ' selected' if want is None else ''
        out.append(Markup(f'<option value="">keep</option>{body}'
                          f'<option value="off"{off}>off sale</option>'))
    return out


@router.get("/plans/{name}/{week}/review")
def review_page(request: Request, name: str, week: str, msg: str = "") -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _signed_in(request, s)
    return _review(request, svc, who, name, week, msg=msg)


def _changes_from(form: dict[str, str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The override rows a review form asks for: ``p<i>`` is row ``i``'s new price,
    ``off`` to take it off sale, blank to keep it (a season plan's rows: in their
    period)."""
    out = []
    for i, r in enumerate(rows):
        value = form.get(f"p{i}", "").strip()
        if not value:
            continue
        where = {"period": str(r["period"])} if "period" in r else {}
        if value == "off":
            out.append({"bundle_id": r["bundle_id"], "segment_id": r["segment_id"],
                        "price": None, **where})
            continue
        try:
            price = float(value)
        except ValueError:
            price = value         # versions.price_value says what is wrong with it
        if isinstance(price, float) and math.isfinite(price) and \
                abs(price - float(r["price"])) < 0.005:
            continue
        out.append({"bundle_id": r["bundle_id"], "segment_id": r["segment_id"],
                    "price": price, **where})
    return out


@router.post("/plans/{name}/{week}/review")
async def review_post(request: Request, name: str, week: str) -> Response:
    """``action=check``: re-evaluate the changes and show them, saving nothing;
    ``action=save``: save them as a new version unless a rule is broken."""
    form = await _form(request)
    return await run_in_threadpool(_review_post, request, form, name, week)


def _review_post(request: Request, form: dict[str, str], name: str, week: str) -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _checked_post(request, s, form)
        w = _weekly_or_404(s, who, name, week)
        if w is None:
            return _not_found(request, "No such plan.")
        try:
            base = int(form.get("base", ""))
        except ValueError:
            base = None
        known = versions.list_versions(s, w)
        start = next((x for x in known if x.version == base), None) if base is not None \
            else (known[-1] if known else None)
        if start is None:
            return _not_found(request, "No such version.")
        loaded = (w, known)
        changes = _changes_from(form, start.rows)
        if not changes:
            return _review(request, svc, who, name, week, base, error="Nothing changed: "
                           "pick another price or 'off sale' for at least one row.",
                           status=422)
        try:
            with svc.cpu_turn:
                ev = versions.evaluate_override(s, w, changes, start=start)
        except InputError as err:
            return _review(request, svc, who, name, week, base, changes,
                           error=str(err), status=422)
    if form.get("action") != "save" or ev.violations:
        if form.get("action") == "save":
            # The page shows why (an answer the person acts on, not a failed request).
            return _review(request, svc, who, name, week, base, changes, ev,
                           error="Not saved: the plan breaks "
                           + "; ".join(ev.violations) + ".", loaded=loaded)
        return _review(request, svc, who, name, week, base, changes, ev, loaded=loaded)
    with svc.write_turn, svc.writes() as s:
        w = _weekly_or_404(s, who, name, week)
        if versions.latest_number(s, w) != start.version:
            return _review(request, svc, who, name, week, None, error="A newer version was "
                           "saved meanwhile; this page now shows it.", status=409)
        v = versions.save_version(s, w, ev, who.actor, form.get("comment") or None)
        s.add(Audit(tenant=w.tenant, actor=who.actor, action="override",
                    target=f"{w.name}/{w.week}"[:128],
                    detail={"version": v.version, "changes": v.changes,
                            "comment": form.get("comment") or None}))
        s.commit()
    return _back(f"/app/plans/{w.name}/{w.week}/review", msg=f"saved as version {v.version}")


@router.post("/plans/{name}/{week}/decide")
async def decide(request: Request, name: str, week: str) -> Response:
    """Approve (a version) or reject (with a comment) the week."""
    form = await _form(request)
    return await run_in_threadpool(_decide, request, form, name, week)


def _decide(request: Request, form: dict[str, str], name: str, week: str) -> Response:
    svc = service(request)
    with svc.write_turn, svc.writes() as s:
        who = _checked_post(request, s, form)
        w = _weekly_or_404(s, who, name, week)
        if w is None:
            return _not_found(request, "No such plan.")
        comment = form.get("comment", "").strip()[:approval.MAX_COMMENT] or None
        try:
            if form.get("action") == "reject":
                if not comment:
                    msg = "A rejection needs a comment saying why."
                    s.rollback()
                    return _back(f"/app/plans/{w.name}/{w.week}/review", msg=msg)
                approval.reject(s, w, who.actor, comment)
                msg = "rejected"
            else:
                raw = form.get("version", "")
                number = int(raw) if raw.isdigit() else None
                got = approval.approve(s, w, number, who.actor, comment)
                msg = f"approved version {got}" + (" and exported" if w.review == "exported"
                                                   else "")
        except (approval.ReviewConflict, LookupError, BundleoptError) as err:
            s.rollback()
            return _back(f"/app/plans/{w.name}/{w.week}/review", msg=str(err))
        s.commit()
    return _back(f"/app/plans/{w.name}/{w.week}/review", msg=msg)


# -------------------------------------------------------------- schedules, audit
@router.get("/schedules")
def schedules_page(request: Request, msg: str = "") -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _signed_in(request, s)
        rows = (queries.list_schedules_all_tenants(s) if who.admin
                else queries.list_schedules(s, tenant=who.tenant))
        last = schedules.last_runs(s, [x.id for x in rows])
    return page(request, "schedules.html", title="Schedules", schedules=rows, last=last,
                msg=msg[:300])


@router.post("/schedules/{name}/run")
async def run_schedule(request: Request, name: str) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_run_schedule, request, form, name)


def _run_schedule(request: Request, form: dict[str, str], name: str) -> Response:
    svc = service(request)
    with svc.reads() as s:
        who = _checked_post(request, s, form)
        sched = queries.find_schedule(s, name, tenant=who.tenant) if NAME_RE.match(name) \
            else None
    if sched is None:
        return _not_found(request, "No such schedule.")
    with svc.write_turn:
        run = schedules.run_now(svc.engine, svc.settings.db_url, sched,
                                queue.worker_name("run-now"), who.actor)
    return _back("/app/schedules", msg=f"started {sched.name} for week {run.week}")


@router.get("/audit")
def audit_page(request: Request, page_no: int = Query(1, alias="page")) -> Response:
    svc = service(request)
    page_no = max(1, min(page_no, 10**6))
    with svc.reads() as s:
        who = _signed_in(request, s)
        off = (page_no - 1) * PAGE_SIZE
        rows = (queries.list_audit_all_tenants(s, limit=PAGE_SIZE + 1, offset=off)
                if who.admin else queries.list_audit(s, tenant=who.tenant,
                                                     limit=PAGE_SIZE + 1, offset=off))
    return page(request, "audit.html", title="Audit", entries=rows[:PAGE_SIZE],
                page_no=page_no, more=len(rows) > PAGE_SIZE)


@router.get("/static/{name}")
def static(name: str) -> Response:
    found = STATIC.get(name)
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    body, media = found()
    return Response(body, media_type=media, headers={"cache-control": "max-age=3600"})


def count_sessions(s: Session) -> int:
    """How many sessions are stored (tests, metrics)."""
    from ..models import WebSession

    return int(s.scalar(select(func.count()).select_from(WebSession)) or 0)
