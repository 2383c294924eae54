"""A polite HTTP client for the feeds: bounded connections, Retry-After, backoff with jitter, interruptible waits.

urllib3 (already installed with botocore) rather than a hand-written client or an async stack: its
thread-safe connection pool keeps `concurrency` keep-alive connections, and plain worker threads let
the GIL-releasing parts of each hour (socket reads, LZMA, numpy) overlap without an event loop.
"""

import dataclasses
import email.utils
import random
import threading
import time

import urllib3

from ticklake_dagster.core.errors import TicklakeError

RETRY_STATUSES = frozenset({202, 408, 425, 429, 500, 502, 503, 504})  # 202: the JSON API's WAF answer without data
MAX_RETRY_AFTER_S = 300.0


class FetchError(Exception):
    """An hour that could not be fetched or decoded after all retries; the message names its URL."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class FeedUnreachable(TicklakeError):
    """The feed's host does not answer at all."""


class Stopped(Exception):
    """The import was interrupted while this request waited or ran."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # per hour, for 429/5xx/timeouts/dropped connections
    decode_attempts: int = 3  # bodies that fail to decode are fetched again this often
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)], so clients that failed together spread out."""
        return random.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER_S)


class FeedClient:
    """Fetches and decodes hours; at most `concurrency` requests are in flight across all threads using it."""

    def __init__(
        self,
        concurrency: int,
        policy: RetryPolicy = RetryPolicy(),
        headers: dict | None = None,
        stop: threading.Event | None = None,
    ):
        self.policy = policy
        self.stop = stop or threading.Event()
        self.headers = {"User-Agent": "ticklake-history-import", **(headers or {})}
        self._slots = threading.BoundedSemaphore(concurrency)
        self.http = urllib3.PoolManager(
            num_pools=4,
            maxsize=concurrency,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s),
        )

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Stopped()

    def get(self, url: str, attempts: int | None = None) -> tuple[bytes, int]:
        """The body of a 200 answer and the retries it took; FetchError once retries are exhausted or on a 4xx."""
        attempts = attempts or self.policy.attempts
        reason = ""
        for attempt in range(attempts):
            if self.stop.is_set():
                raise Stopped()
            delay = None
            try:
                with self._slots:
                    resp = self.http.request("GET", url, headers=self.headers, preload_content=True, redirect=True)
            except urllib3.exceptions.HTTPError as e:  # timeouts, refused or dropped connections, short bodies
                reason = _describe(e)
            else:
                if resp.status == 200:
                    return resp.data, attempt
                reason = f"HTTP {resp.status}"
                if resp.status not in RETRY_STATUSES:
                    raise FetchError(url, reason)
                delay = retry_after_seconds(resp.headers.get("Retry-After"))
            if attempt + 1 < attempts:
                self._wait(delay if delay is not None else self.policy.backoff(attempt))
        raise FetchError(url, f"{reason} after {attempts} attempts")

    def fetch_body(self, url: str, recheck_empty: bool) -> tuple[bytes, int]:
        """An hour's body and the retries it took; an empty one is asked for once more when `recheck_empty`."""
        body, retries = self.get(url)
        if not body and recheck_empty:
            # Empty answers while the market trades are sometimes transient: ask once more before believing it.
            self._wait(self.policy.backoff(0))
            body, r = self.get(url)
            retries += r + 1
        return body, retries

    def refetch_body(self, url: str, attempt: int) -> tuple[bytes, int]:
        """An hour again after its body failed to decode `attempt` times, after a backoff."""
        self._wait(self.policy.backoff(attempt - 1))
        return self.get(url)

    def probe(self, url: str) -> None:
        """One quick request before a long import, so a wrong or unreachable URL is one error, not days of retries."""
        try:
            self.http.request(
                "GET", url, headers=self.headers, retries=False, timeout=urllib3.Timeout(connect=5.0, read=30.0)
            )
        except urllib3.exceptions.HTTPError as e:
            raise FeedUnreachable(f"Cannot reach the Dukascopy feed at {url}: {_describe(e)}") from None

    def close(self) -> None:
        self.http.clear()


def _describe(e: Exception) -> str:
    inner = getattr(e, "reason", None)
    text = str(inner or e).splitlines()[0] if str(inner or e) else ""
    return f"{type(inner or e).__name__}: {text[:160]}"
