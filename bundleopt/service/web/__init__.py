"""The web app under ``/app/`` (issue 20): the pages (:mod:`.pages`), sessions and CSRF
(:mod:`.sessions`), the Content-Security-Policy (:mod:`.security`), templates and
charts (:mod:`.render`), plan comparison (:mod:`.compare`) and its own static files
(:mod:`.static`)."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from .pages import SignIn, router
from .render import warm
from .security import SecureHeaders
from .sessions import LoginThrottle


async def _sign_in(_request: Request, _err: Exception) -> Response:
    return RedirectResponse("/app/login", status_code=303)


def install(app: FastAPI) -> None:
    """Mount the web app on ``app`` (its routes, headers, sign-in redirect and sign-in
    throttle); ``app.state.service`` is already set."""
    app.state.login_throttle = LoginThrottle(app.state.service.settings)
    app.add_middleware(SecureHeaders)
    app.add_exception_handler(SignIn, _sign_in)
    app.include_router(router)


__all__ = ["install", "warm"]
