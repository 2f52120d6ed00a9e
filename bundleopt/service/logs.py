"""How ``serve``, ``worker`` and their worker processes log: text lines, or JSON lines
(``--log-format json``) that a log collector can index without parsing prose.

A JSON line carries the time, level, logger and message, and the ``solve_id`` and
``tenant`` when the code that logged passed them (``extra={"solve_id": …}``), so one
solve's story can be followed across the API, the workers and the instances.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

LOG_FORMATS = ("text", "json")
#: Record attributes copied into a JSON line when set (``extra=`` of a logging call).
CONTEXT_FIELDS = ("solve_id", "tenant")


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line (the message's newlines are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc)
                .isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(log_format: str = "text",
                  text_format: str = "%(asctime)s %(name)s %(message)s") -> None:
    """Send INFO and above to stderr in ``log_format``; replaces earlier handlers, so a
    spawned process and a test calling it twice both end with exactly one handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(text_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class Failing:
    """Logs a loop step that fails over and over (a claim, a supervisor tick) once per
    run of failures, and once more when it works again: a database outage of a minute is
    two lines, not a traceback every half second. A database error is one line; any other
    error keeps its traceback (it is likely our bug)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log, self.what, self.failing = logger, what, False

    def failed(self, err: BaseException) -> None:
        from sqlalchemy.exc import DBAPIError

        if self.failing:
            return
        self.failing = True
        if isinstance(err, DBAPIError):
            self.log.warning("%s failed: the database is unavailable (%s); retrying",
                             self.what, type(err.orig).__name__)
        else:
            self.log.error("%s failed; retrying", self.what, exc_info=err)

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            self.log.info("%s works again", self.what)
