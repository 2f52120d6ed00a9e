"""Cron expressions of schedules: 5 fields, UTC; a bad one is refused naming the field
that is wrong and why (``minute field '*/0': a step of 0 ...``), not just "invalid"."""
from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter

from formulations.errors import InputError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: Each field's name, smallest and largest value, and the names it takes for numbers.
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate(_MONTHS, start=1)}),
    ("day-of-week", 0, 7, {d: i for i, d in enumerate(_DAYS)}))


def next_after(cron: str, moment: datetime) -> datetime:
    """The first occurrence of ``cron`` strictly after ``moment`` (UTC)."""
    return croniter(cron, moment).get_next(datetime)


def latest_due(cron: str, since: datetime, now: datetime) -> datetime | None:
    """The last occurrence in ``(since, now]``, or ``None`` if there is none."""
    prev = croniter(cron, now + timedelta(microseconds=1)).get_prev(datetime)
    return prev if prev > since else None


def check_cron(cron: str) -> None:
    """InputError (field ``cron``) unless ``cron`` is a valid 5-field expression; the
    message names the field that is wrong and why."""
    fields = cron.split()
    if len(fields) != 5:
        raise _bad(f"expected 5 fields (minute hour day-of-month month day-of-week), "
                   f"found {len(fields)}")
    if croniter.is_valid(cron):
        return
    for i, (name, lo, hi, names) in enumerate(FIELDS):
        alone = " ".join(v if j == i else "*" for j, v in enumerate(fields))
        if not croniter.is_valid(alone):
            why = field_problem(fields[i], lo, hi, names) or (
                f"expected numbers {lo}-{hi}{' or names' if names else ''}, ranges a-b, "
                "lists a,b or steps */n")
            raise _bad(f"{name} field {fields[i][:40]!r}: {why}")
    raise _bad(f"{cron[:128]!r}: the fields are valid alone but not together")


def field_problem(value: str, lo: int, hi: int, names: dict[str, int]) -> str | None:
    """What is wrong with one field's text, when it is one of the common mistakes."""
    for part in value.split(","):
        if not part:
            return "an empty item in a list"
        base, slash, step = part.partition("/")
        if slash and not step.isdigit():
            return f"the step {step[:20]!r} is not a whole number"
        if slash and int(step) == 0:
            return "a step of 0 never advances; use 1 or more"
        if base in ("*", "?"):
            continue
        first, dash, last = base.partition("-")
        for v in (first, last) if dash else (first,):
            n = int(v) if v.isdigit() else names.get(v.upper())
            if n is None:
                kind = "a number or name" if names else "a number"
                return f"{v[:20]!r} is not {kind}"
            if not lo <= n <= hi:
                return f"{v} is outside {lo}-{hi}"
    return None


def _bad(problem: str) -> InputError:
    return InputError("schedule", problem, field="cron")
