"""Structured logging: one JSON line per event, in the shape Cloud Logging reads.

Every line carries `severity`, `message` and the ids of what it is about as fields.
Secret values registered by the configuration are replaced wherever they would appear,
including inside URLs and exception text.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any

REDACTED = "[redacted]"
_secrets: set[str] = set()
_SEVERITIES = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
# Short values would redact ordinary words; real tokens and cookies are far longer.
_MIN_SECRET_CHARS = 6


def register_secret(value: str) -> None:
    if len(value) >= _MIN_SECRET_CHARS:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITIES.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class Logger:
    """A thin front to `logging` that takes fields as keyword arguments."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def debug(self, message: str, **fields: Any) -> None:
        self._log(logging.DEBUG, message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._log(logging.ERROR, message, fields)

    def exception(self, message: str, **fields: Any) -> None:
        """Logs at ERROR with the traceback of the exception being handled."""
        self._log(logging.ERROR, message, fields, exc_info=True)

    def _log(
        self, level: int, message: str, fields: dict[str, Any], exc_info: bool = False
    ) -> None:
        self._logger.log(level, message, extra={"fields": fields}, exc_info=exc_info)


def get(name: str) -> Logger:
    return Logger(name)


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    """Sends instapipe's log records to stdout (or `stream`) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("instapipe")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
