"""Structured JSON log lines: one object per line on stderr, a fixed message (`msg`) with its fields beside it."""

from __future__ import annotations

import json
import logging
import sys
import time

LOGGER_NAME = "ticklake.ingest"
logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "msg", ...fields}`; fields come from `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(line, default=str)


def configure(level: int = logging.INFO, stream=None) -> None:
    """Send the ingester's logs to stderr as JSON lines (the CLI calls this once)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def log(level: int, msg: str, **fields) -> None:
    logger.log(level, msg, extra={"fields": fields})


def info(msg: str, **fields) -> None:
    log(logging.INFO, msg, **fields)


def warning(msg: str, **fields) -> None:
    log(logging.WARNING, msg, **fields)


def error(msg: str, **fields) -> None:
    log(logging.ERROR, msg, **fields)
