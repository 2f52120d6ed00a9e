"""Service settings and the limits that keep one request, or one tenant, from hurting the others.

Every limit has an environment variable (read by :meth:`ServiceSettings.from_env`);
``docs/service.md`` lists them all with their defaults:

``BUNDLEOPT_MAX_BODY_BYTES``         request body size (default 10 MB) → 413
``BUNDLEOPT_MAX_CELLS``              offers × segments × ladder points (default 1 000 000) → 413
``BUNDLEOPT_DEFAULT_TIME_LIMIT``     time limit of a solve that sets none (default 60 s)
``BUNDLEOPT_MAX_TIME_LIMIT``         cap on any solve's time limit (default 600 s)
``BUNDLEOPT_LEASE_SECONDS``          worker lease: a dead worker's solve is re-queued after it
``BUNDLEOPT_REQUEST_TIMEOUT``        every request is answered within it (default 30 s), else 503
``BUNDLEOPT_MAX_ACTIVE_PER_TENANT``  queued + running solves of one tenant (default 50) → 429
``BUNDLEOPT_RATE_PER_SECOND``        a tenant's sustained request rate (default 20/s) → 429
``BUNDLEOPT_RATE_BURST``             requests a tenant may send at once above it (default 60)
``BUNDLEOPT_BODY_MEMORY``            memory for request bodies being read and parsed, all
                                     tenants (default: a quarter of the available memory,
                                     at most 1 GiB) → 429
``BUNDLEOPT_TENANT_BODY_MEMORY``     the same for one tenant (default: a quarter of it)
``BUNDLEOPT_CONFIG_ROOTS``           directories (``:``-separated) weekly configs and the
                                     files they name must lie in (default: none — inline only)
``BUNDLEOPT_EXPORT_ROOT``            writable directory scheduled plans export into
``BUNDLEOPT_LOGIN_PER_MINUTE``       failed web sign-ins per client address, and per token
                                     tried, sustained (default 5 a minute) → 429
``BUNDLEOPT_LOGIN_BURST``            failed sign-ins allowed at once above it (default 10)
``BUNDLEOPT_SECURE_COOKIES``         ``auto`` (default), ``always`` or ``never``: whether the
                                     web app's cookies say ``Secure`` (:mod:`.web.sessions`)
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from formulations.errors import InputError, ParameterError
from formulations.settings import MAX_PERIODS
from solver.machine import machine_cores

DEFAULT_DISCOUNT_COUNT = 7   # length of SCENARIO.md's default price ladder
#: Parsing JSON into Python objects costs about this many bytes per byte of body.
PARSE_FACTOR = 10
#: Largest money amount (costs, prices, willingness to pay) a scenario may hold.
MAX_MONEY = 1e9
#: Largest other number (sizes, inventories, quantities, settings) a scenario may hold.
MAX_AMOUNT = 1e12
MAX_ID_LENGTH = 256
MONEY_FIELDS = frozenset({"unit_cost", "list_price", "wtp", "wtp_sd", "price", "min_price",
                          "switching_cost",
                          "max_price"})
SECURE_COOKIE_MODES = ("auto", "always", "never")


class TooLarge(Exception):
    """The request or scenario exceeds a configured limit (answered with 413)."""


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


@dataclass(frozen=True)
class ServiceSettings:
    """Everything ``create_app`` and the worker pool need to know."""

    db_url: str
    tokens: list[str] = field(default_factory=list)
    admin_tokens: list[str] = field(default_factory=list)
    max_body_bytes: int = 10 * 1024 * 1024
    max_cells: int = 1_000_000
    default_time_limit: float = 60.0
    max_time_limit: float = 600.0
    lease_seconds: float = 15.0
    request_timeout: float = 30.0
    max_active_per_tenant: int = 50
    rate_per_second: float = 20.0
    rate_burst: float = 60.0
    body_memory: int = 0            # 0: derived from the available memory at start
    tenant_body_memory: int = 0     # 0: a quarter of body_memory
    config_roots: tuple[str, ...] = ()
    export_root: str | None = None
    login_per_minute: float = 5.0
    login_burst: float = 10.0
    secure_cookies: str = "auto"    # auto | always | never (web.sessions.secure_cookie)

    def __post_init__(self) -> None:
        if self.secure_cookies not in SECURE_COOKIE_MODES:
            raise ParameterError(f"BUNDLEOPT_SECURE_COOKIES={self.secure_cookies!r}: expected "
                                 + ", ".join(SECURE_COOKIE_MODES))
        # A body of the maximal size must always be admissible, for one tenant and all.
        one = self.max_body_bytes * PARSE_FACTOR
        total = self.body_memory or min(1 << 30, _available_memory() // 4)
        object.__setattr__(self, "body_memory", max(total, one))
        per = self.tenant_body_memory or self.body_memory // 4
        object.__setattr__(self, "tenant_body_memory", min(max(per, one), self.body_memory))

    @classmethod
    def from_env(cls, db_url: str, tokens: list[str],
                 admin_tokens: list[str] | None = None) -> "ServiceSettings":
        """Settings with limits overridden from the environment."""
        roots = [r for r in os.environ.get("BUNDLEOPT_CONFIG_ROOTS", "").split(os.pathsep)
                 if r.strip()]
        if os.environ.get("BUNDLEOPT_CONFIG_DIR", "").strip():   # the older, single-root name
            roots.append(os.environ["BUNDLEOPT_CONFIG_DIR"])
        export = os.environ.get("BUNDLEOPT_EXPORT_ROOT", "").strip() or None
        return cls(db_url=db_url, tokens=tokens, admin_tokens=admin_tokens or [],
                   max_body_bytes=int(_env("BUNDLEOPT_MAX_BODY_BYTES", cls.max_body_bytes)),
                   max_cells=int(_env("BUNDLEOPT_MAX_CELLS", cls.max_cells)),
                   default_time_limit=_env("BUNDLEOPT_DEFAULT_TIME_LIMIT",
                                           cls.default_time_limit),
                   max_time_limit=_env("BUNDLEOPT_MAX_TIME_LIMIT", cls.max_time_limit),
                   lease_seconds=_env("BUNDLEOPT_LEASE_SECONDS", cls.lease_seconds),
                   request_timeout=_env("BUNDLEOPT_REQUEST_TIMEOUT", cls.request_timeout),
                   max_active_per_tenant=int(_env("BUNDLEOPT_MAX_ACTIVE_PER_TENANT",
                                                  cls.max_active_per_tenant)),
                   rate_per_second=_env("BUNDLEOPT_RATE_PER_SECOND", cls.rate_per_second),
                   rate_burst=_env("BUNDLEOPT_RATE_BURST", cls.rate_burst),
                   body_memory=int(_env("BUNDLEOPT_BODY_MEMORY", 0, allow_zero=True)),
                   tenant_body_memory=int(_env("BUNDLEOPT_TENANT_BODY_MEMORY", 0,
                                               allow_zero=True)),
                   config_roots=tuple(str(Path(r).resolve()) for r in roots),
                   export_root=str(Path(export).resolve()) if export else None,
                   login_per_minute=_env("BUNDLEOPT_LOGIN_PER_MINUTE", cls.login_per_minute),
                   login_burst=_env("BUNDLEOPT_LOGIN_BURST", cls.login_burst),
                   secure_cookies=os.environ.get("BUNDLEOPT_SECURE_COOKIES", "").strip().lower()
                   or cls.secure_cookies)


def _env(name: str, default: float, allow_zero: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError(f"{name}={raw!r}: expected a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ParameterError(f"{name}={raw!r}: must be a finite number > 0")
    return value


def service_time_limit(requested: float | None, default: float,
                       cap: float | None = None) -> float:
    """The one place the service decides a solve's time limit, in seconds.

    The requested limit (the scenario's or the weekly config's ``time_limit``), else the
    default, capped by ``cap``. Both the API and ``plan run`` call this.
    """
    limit = float(requested) if requested else float(default)
    return min(limit, float(cap)) if cap is not None else limit


def check_threads(threads: Any, cores: int | None = None) -> None:
    """InputError (422) when a solve asks for more threads than the machine has cores."""
    cores = cores or machine_cores()
    if threads is not None and not isinstance(threads, bool) and isinstance(threads, int) \
            and threads > cores:
        raise InputError("scenario", f"at most {cores} threads (this machine's cores), "
                         f"got {threads}", field="solver.threads")


def safe_text(value: Any) -> str:
    """``value`` as text that always encodes to UTF-8 (lone surrogates escaped)."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def text_problem(value: str, is_id: bool) -> str | None:
    """Why a string from a client is refused, or ``None``: lone surrogates, NUL, and in ids
    any control character or a length above :data:`MAX_ID_LENGTH`."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text (lone surrogate)"
    if "\x00" in value:
        return "contains a NUL character"
    if is_id:
        if len(value) > MAX_ID_LENGTH:
            return f"is longer than {MAX_ID_LENGTH} characters"
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
            return "contains a control character"
    return None


def check_payload_values(payload: dict[str, Any]) -> None:
    """Refuse (InputError, 422) any text or number of a raw payload outside safe bounds.

    Numbers must be finite, money fields at most :data:`MAX_MONEY` and everything else at
    most :data:`MAX_AMOUNT` in size; text must be valid UTF-8 without NUL, ids (``*_id``
    fields) without control characters. Runs before the scenario is validated.
    """
    for table, records in payload.items():
        if table == "scenario":
            _check_tree(records, "scenario", "scenario")
            continue
        if not isinstance(records, list):
            continue
        for i, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                continue
            for key, value in record.items():
                problem = text_problem(key, is_id=True)
                if problem:
                    raise InputError(table, f"a field name {problem}", row=i)
                problem = _value_problem(key, value)
                if problem:
                    raise InputError(table, problem, row=i, field=key)


def _value_problem(key: str, value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        limit = MAX_MONEY if key in MONEY_FIELDS else MAX_AMOUNT
        if not math.isfinite(value) or abs(value) > limit:
            return f"expected a finite number of size at most {limit:.0e}"
        return None
    if isinstance(value, str):
        return text_problem(value, is_id=key.endswith("_id"))
    return None


def _check_tree(value: Any, table: str, where: str, depth: int = 0) -> None:
    if depth > 20:
        raise InputError(table, "nested too deeply", field=where)
    if isinstance(value, dict):
        for k, v in value.items():
            problem = text_problem(str(k), is_id=True)
            if problem:
                raise InputError(table, f"a key {problem}", field=where)
            _check_tree(v, table, f"{where}.{k}" if where != table else str(k), depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_tree(v, table, where, depth + 1)
    else:
        problem = _value_problem(where.rsplit(".", 1)[-1], value)
        if problem:
            raise InputError(table, problem, field=where)


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity); raises ``ValueError`` with a short message."""
    def reject(token: str) -> Any:
        raise ValueError(f"{token} is not valid JSON")

    try:
        return json.loads(body, parse_constant=reject)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8 text") from None


def scenario_cells(payload: dict[str, Any]) -> int:
    """Offers × segments × (most) ladder points × periods of a raw payload, before
    validation (a season's model has one copy of the cells per period, SCENARIO.md §8).

    Counts what the payload says, so a huge scenario is refused before any work is
    spent on it; malformed parts count as zero (validation reports them afterwards).
    """
    def records(key: str) -> list[dict[str, Any]]:
        v = payload.get(key)
        return [r for r in v if isinstance(r, dict)] if isinstance(v, list) else []

    def ids(key: str, col: str) -> set[str]:
        return {str(r.get(col)) for r in records(key)}

    offers = len(ids("bundles", "bundle_id"))
    segments = len(ids("segments", "segment_id"))
    ladder = DEFAULT_DISCOUNT_COUNT
    settings = payload.get("scenario")
    if isinstance(settings, dict) and isinstance(settings.get("price_ladder"), dict):
        d = settings["price_ladder"].get("discounts")
        if isinstance(d, list):
            ladder = len(d)
    per_offer: dict[str, int] = {}
    for r in records("prices"):
        key = str(r.get("bundle_id"))
        per_offer[key] = per_offer.get(key, 0) + 1
    ladder = max([ladder, *per_offer.values()])
    return offers * segments * max(ladder, 1) * _horizon_periods(settings)


def _horizon_periods(settings: Any) -> int:
    """The number of periods a raw ``scenario`` object's ``horizon`` names (1 without one;
    a malformed one counts 1: validation reports it)."""
    horizon = settings.get("horizon") if isinstance(settings, dict) else None
    periods = horizon.get("periods") if isinstance(horizon, dict) else None
    if isinstance(periods, list):
        return max(len(periods), 1)
    if isinstance(periods, int) and not isinstance(periods, bool) and periods > 0:
        return min(periods, MAX_PERIODS + 1)
    return 1


ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse bodies above ``max_bytes`` with 413, without buffering them.

    ``Content-Length`` is checked up front; a chunked body is counted as it streams in.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge()
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}
                          ).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class RateBuckets:
    """Token buckets by key, in process: each key may take ``burst`` at once and
    ``rate`` a second after that. At most ``max_keys`` are remembered — the least
    recently used is forgotten first (a forgotten key starts full again), so memory is
    bounded whatever keys callers make up. Thread-safe."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, max(1.0, burst), max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, *keys: str) -> float | None:
        """One from the bucket of every key: ``None`` if each had one (all are then
        taken), else the seconds until all would (nothing is taken)."""
        return self._take(keys, True)

    def wait(self, *keys: str) -> float | None:
        """What :meth:`take` would answer, taking nothing."""
        return self._take(keys, False)

    def _take(self, keys: tuple[str, ...], taking: bool) -> float | None:
        now = time.monotonic()
        with self._lock:
            level = {}
            for key in keys:
                tokens, last = self._buckets.get(key, (self.burst, now))
                level[key] = min(self.burst, tokens + (now - last) * self.rate)
            wait = max((1.0 - t) / self.rate for t in level.values()) if level else 0.0
            allowed = wait <= 0.0
            if not taking:
                return None if allowed else wait
            for key, tokens in level.items():
                self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
                self._buckets.move_to_end(key)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return None if allowed else wait

    def __len__(self) -> int:
        return len(self._buckets)


class TenantQuotas:
    """Per-tenant request rate (token bucket) and body-memory reservations, in process.

    Thread-safe; the ASGI gate below consults it before a request is routed or its body
    read, so a refused request costs nothing but the check.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.rate, self.burst = settings.rate_per_second, max(1.0, settings.rate_burst)
        self.body_memory, self.tenant_body_memory = (settings.body_memory,
                                                     settings.tenant_body_memory)
        self._lock = threading.Lock()
        self._requests = RateBuckets(self.rate, self.burst)
        self._held: dict[str, int] = {}
        self._total = 0

    def take_request(self, tenant: str) -> float | None:
        """Count one request; ``None`` if allowed, else seconds until one would be."""
        return self._requests.take(tenant)

    def reserve(self, tenant: str, cost: int) -> bool:
        """Hold ``cost`` bytes of body memory for ``tenant`` if both budgets allow it."""
        with self._lock:
            held = self._held.get(tenant, 0)
            if held + cost > self.tenant_body_memory or self._total + cost > self.body_memory:
                return False
            self._held[tenant] = held + cost
            self._total += cost
            return True

    def release(self, tenant: str, cost: int) -> None:
        with self._lock:
            self._held[tenant] = self._held.get(tenant, 0) - cost
            self._total -= cost


class QuotaGate:
    """ASGI middleware: 429 + ``Retry-After`` past a tenant's rate or body-memory budget.

    Runs after authentication (the caller is in the scope). A request with a body
    reserves ``PARSE_FACTOR`` × its declared size (the largest allowed size when it is
    streamed without ``Content-Length``) until its answer is sent.
    """

    def __init__(self, app: ASGIApp, quotas: TenantQuotas, max_body_bytes: int,
                 scope_key: str) -> None:
        self.app, self.quotas, self.max_body, self.key = app, quotas, max_body_bytes, scope_key

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        who = scope.get(self.key) if scope["type"] == "http" else None
        if who is None:
            await self.app(scope, receive, send)
            return
        wait = self.quotas.take_request(who.tenant)
        if wait is not None:
            await _too_many(send, wait, "request rate limit of this tenant reached")
            return
        cost = 0
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            declared = self.max_body
            for name, value in scope.get("headers", []):
                if name == b"content-length":
                    try:
                        declared = min(int(value), self.max_body)
                    except ValueError:
                        pass
            cost = max(declared, 1) * PARSE_FACTOR
            if not self.quotas.reserve(who.tenant, cost):
                await _too_many(send, 1.0, "too many large requests of this tenant (or of "
                                "all tenants) are being read at once")
                return
        try:
            await self.app(scope, receive, send)
        finally:
            if cost:
                self.quotas.release(who.tenant, cost)


async def _too_many(send: Any, retry_after: float, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, math.ceil(retry_after))).encode())]})
    await send({"type": "http.response.body", "body": body})
