"""Secrets out of text: the one `redact` for every error, log line and startup line that may carry one.

Two layers. Patterns hide the password of every DSN form libpq accepts (URL userinfo, `?password=`
query parameters, `password=` key/value pairs, quoted or escaped) and URL userinfo in any other URL.
Registered secrets (a database password libpq parsed, an R2 secret key, a webhook URL) are hidden
wherever they appear, so a library's message that echoes one in a form no pattern knows stays clean.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter registered values would mask ordinary words in every message

_known: set[str] = set()
_known_lock = threading.Lock()
_known_pattern: re.Pattern | None = None

# scheme://user:PASSWORD@ : like libpq, credentials end at the first '/' after '://'; a password may hold '@'.
_URL_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/?#@\"']*):([^\s/\"']*)@")
# ?password=PW&... or &sslpassword=PW in a URI's query string.
_QUERY_RE = re.compile(r"(?i)([?&](?:ssl)?password=)([^&#\s\"']*)")
# password=PW, password = 'P W\' x' in libpq's key/value form (quoted values escape ' and \ with \).
_KEY_VALUE_RE = re.compile(r"(?i)(?<![\w?&])((?:ssl)?password\s*=\s*)('(?:\\.|[^'\\])*(?:'|$)|(?:\\.|[^\s\\])+|\\$)")


def _spellings(value: str) -> tuple[str, ...]:
    return value, quote(value, safe=""), quote(value), value.replace("\\", "\\\\").replace("'", "\\'")


def register_secret(*values: str | None) -> None:
    """Remember long-lived secrets (and their URL-encoded and key/value-escaped spellings) `redact` must hide.

    For process-wide secrets with no structure a pattern could find (an R2 secret key, a webhook URL);
    a database password is passed to `redact` where its DSN is known, so a weak one ("postgres") does
    not mask that word in every later message.
    """
    global _known_pattern
    added = False
    with _known_lock:
        for value in values:
            if not value or len(value) < MIN_SECRET_LENGTH:
                continue
            for form in _spellings(value):
                if form not in _known:
                    _known.add(form)
                    added = True
        if added:
            ordered = sorted(_known, key=len, reverse=True)  # the longest spelling first
            _known_pattern = re.compile("|".join(map(re.escape, ordered)))


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """`text` as a string with every password, credential in a URL, registered secret and `secrets` masked."""
    out = str(text)
    extra = [form for s in secrets if s for form in _spellings(s)]
    if extra:
        out = re.sub("|".join(map(re.escape, sorted(set(extra), key=len, reverse=True))), MASK, out)
    pattern = _known_pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    out = _URL_USERINFO_RE.sub(lambda m: f"{m[1]}:{MASK}@", out)
    out = _QUERY_RE.sub(lambda m: f"{m[1]}{MASK}", out)
    return _KEY_VALUE_RE.sub(lambda m: f"{m[1]}{MASK}", out)


def dsn_secrets(dsn: str) -> list[str]:
    """The password(s) libpq reads from a connection string (URI or key/value); [] when it cannot parse it."""
    from psycopg2.extensions import parse_dsn

    try:
        options = parse_dsn(dsn)
    except Exception:
        return []
    return [options[k] for k in ("password", "sslpassword") if options.get(k)]


def describe_dsn(dsn: str) -> str:
    """A connection string for logs: its secrets masked, or a placeholder when libpq cannot parse it."""
    from psycopg2.extensions import parse_dsn

    try:
        parse_dsn(dsn)
    except Exception:
        return "<unparseable database url>"
    return redact(dsn, dsn_secrets(dsn))


_QUOTED_RE = re.compile(r'"[^"]*"')


def describe_database_error(e: BaseException, dsn: str | None = None) -> str:
    """psycopg2's first line, secrets masked; for a DSN libpq could not parse, without the fragments it quotes.

    libpq echoes pieces of an unparseable connection string ("missing '=' after ..."), and a password
    split at a space or holding a stray quote is one of those pieces.
    """
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if line.startswith("invalid dsn"):
        line = _QUOTED_RE.sub('"…"', line)
    return redact(line, dsn_secrets(dsn) if dsn else ())


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and traceback text before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return True
