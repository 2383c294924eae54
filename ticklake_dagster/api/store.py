"""Read-only candle queries through a connection pool; relation names come only from TIMEFRAMES."""

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg2
from psycopg2 import sql
from psycopg2.pool import ThreadedConnectionPool

from ticklake_dagster.errors import DatabaseError
from ticklake_dagster.redaction import describe_database_error, describe_dsn
from ticklake_dagster.resources.database import DatabaseResource

log = logging.getLogger("ticklake.api")

# timeframe -> (relation, bucket width in seconds). The only way a relation name reaches SQL.
TIMEFRAMES: dict[str, tuple[str, int]] = {
    "5m": ("candles_5m", 300),
    "15m": ("candles_15m", 900),
    "1h": ("candles_1h", 3_600),
    "4h": ("candles_4h", 14_400),
    "12h": ("candles_12h", 43_200),
    "1d": ("candles_1d", 86_400),
}
BASE_RELATION = "candles_5m"

# PostgreSQL serializes the candles (row_to_json is compact and keeps column order): no per-row Python.
# date_part (float8) rather than extract (numeric): bucket starts are whole seconds, and it is cheaper.
# A non-finite price would serialize as the string "Infinity"/"NaN": such rows are never served (NaN
# sorts above Infinity in PostgreSQL, so one comparison drops both).
_CANDLES_SQL = """
SELECT coalesce(json_agg(c ORDER BY c.time), '[]')::text
FROM (SELECT date_part('epoch', time)::bigint AS time, open, high, low, close, trades FROM {relation}
      WHERE symbol = %s AND time >= %s AND time <= %s
        AND greatest(abs(open), abs(high), abs(low), abs(close)) < 'Infinity'::float8
      ORDER BY {relation}.time LIMIT %s) AS c
"""
_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM candles_5m WHERE symbol = %s)"
_METADATA_SQL = """
SELECT extract(epoch FROM min(time))::bigint, extract(epoch FROM max(time))::bigint, count(*), {available}
FROM candles_5m WHERE symbol = %(symbol)s
"""
# A loose index scan over (symbol, time): one index probe per symbol instead of reading every candle.
_SYMBOLS_SQL = """
WITH RECURSIVE s(symbol) AS (
    (SELECT symbol FROM candles_5m ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT c.symbol FROM candles_5m AS c WHERE c.symbol > s.symbol ORDER BY c.symbol LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT symbol FROM s WHERE symbol IS NOT NULL
"""

T = TypeVar("T")


def guarded(cur, query, params, timeout_ms: int) -> None:
    """Execute `query` read-only under a statement timeout, in one round trip.

    The settings are transaction-local (the caller ends the transaction), so nothing leaks into the
    session, which PgBouncer in transaction mode would hand to another client. Even a query bug
    cannot change data through the API.
    """
    prefix = sql.SQL("SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}; ").format(sql.Literal(int(timeout_ms)))
    cur.execute(prefix + (query if isinstance(query, sql.Composable) else sql.SQL(query)), params)


class DatabaseUnavailable(Exception):
    """The database could not answer; `reason` is for the server log (redacted), never for clients."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class SymbolMetadata:
    symbol: str
    timeframes: list[str]
    first: int
    last: int
    count: int


class _ApiConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers whether its session settings were applied."""

    initialized = False


class CandleStore:
    """Candles, metadata and symbols from PostgreSQL/TimescaleDB.

    `pooled=False` opens a new connection per request: the naive baseline the benchmark compares against.
    The pool is created on first use (so the server starts while the database is down) and blocks
    callers beyond `pool_size` instead of failing, as psycopg2's pool alone would.
    """

    def __init__(self, database: DatabaseResource, *, pool_size: int = 8, pooled: bool = True,
                 migrate: bool = True, statement_timeout_ms: int = 10_000, acquire_timeout_s: float = 10.0,
                 metadata_ttl_s: float = 5.0):
        self.database = database
        self.pool_size = max(1, pool_size)
        self.pooled = pooled
        self.migrate = migrate
        self.statement_timeout_ms = statement_timeout_ms
        self.acquire_timeout_s = acquire_timeout_s
        self.metadata_ttl_s = metadata_ttl_s
        self._metadata: dict[str, tuple[float, SymbolMetadata]] = {}
        self.flavor: str | None = None
        self._url: str | None = None
        self._pool: ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.pool_size)

    # -- connections -------------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict:
        return {"connect_timeout": self.database.connect_timeout, "application_name": "ticklake-api",
                "connection_factory": _ApiConnection}

    def _prepare(self) -> str:
        """Resolve the URL and apply migrations once; DatabaseUnavailable when either fails."""
        if self._url is None:
            try:
                url = self.database.resolved_url()
                self.flavor = self.database.ensure_schema() if self.migrate else None
            except DatabaseError as e:
                raise DatabaseUnavailable(str(e)) from None
            self._url = url
        return self._url

    def _new_connection(self, url: str):
        try:
            conn = psycopg2.connect(url, **self._connect_kwargs())
        except psycopg2.Error as e:
            raise DatabaseUnavailable(f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}") from None
        self._init_connection(conn)
        return conn

    def _init_connection(self, conn) -> None:
        # One explicit transaction per request, ended by the store: guarded() settings die with it.
        conn.autocommit = False
        conn.initialized = True

    def _get_pool(self, url: str) -> ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    # minconn = maxconn: psycopg2's pool closes every returned connection beyond minconn.
                    self._pool = ThreadedConnectionPool(self.pool_size, self.pool_size, url, **self._connect_kwargs())
                except psycopg2.Error as e:
                    raise DatabaseUnavailable(f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}") from None
            return self._pool

    def _run(self, work: Callable[..., T]) -> T:
        """Run `work(cursor)` on a pooled connection; connections the server dropped are replaced, the work retried."""
        with self._lock:
            url = self._prepare()
        if not self.pooled:
            conn = self._new_connection(url)
            try:
                with conn.cursor() as cur:
                    result = work(cur)
                conn.rollback()
                return result
            except psycopg2.Error as e:
                raise DatabaseUnavailable(describe_database_error(e, url)) from None
            finally:
                conn.close()

        if not self._slots.acquire(timeout=self.acquire_timeout_s):
            raise DatabaseUnavailable(f"all {self.pool_size} database connections busy for {self.acquire_timeout_s}s")
        try:
            pool = self._get_pool(url)
            attempts = self.pool_size + 1  # after a server restart every idle connection may be dead
            for attempt in range(1, attempts + 1):
                try:
                    conn = pool.getconn()
                except psycopg2.Error as e:
                    raise DatabaseUnavailable(f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}") from None
                try:
                    if not conn.initialized:
                        self._init_connection(conn)
                    with conn.cursor() as cur:
                        result = work(cur)
                    conn.rollback()  # end the read-only transaction; nothing to commit
                except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                    pool.putconn(conn, close=True)
                    if attempt == attempts or not conn.closed:
                        raise DatabaseUnavailable(describe_database_error(e, url)) from None
                    continue  # the server dropped an idle connection (restart, failover): try a fresh one
                except psycopg2.Error as e:
                    pool.putconn(conn, close=True)
                    raise DatabaseUnavailable(describe_database_error(e, url)) from None
                except BaseException:
                    pool.putconn(conn, close=True)
                    raise
                pool.putconn(conn)
                return result
            raise AssertionError("unreachable")
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None

    # -- queries ---------------------------------------------------------------------------------

    def ping(self) -> str:
        """Round-trip to the database; returns the flavor ('timescaledb', 'postgres' or 'unknown')."""
        def work(cur):
            guarded(cur, "SELECT 1", None, self.statement_timeout_ms)
            cur.fetchone()
        self._run(work)
        return self.flavor or "unknown"

    def candles_json(self, symbol: str, timeframe: str, start: int, end: int, limit: int) -> str | None:
        """The JSON array of candles with start <= time <= end (unix s), or None when the symbol is unknown."""
        relation, _ = TIMEFRAMES[timeframe]
        query = sql.SQL(_CANDLES_SQL).format(relation=sql.Identifier(relation))
        params = (symbol, _utc(start), _utc(end), limit)

        def work(cur):
            guarded(cur, query, params, self.statement_timeout_ms)
            body = cur.fetchone()[0]
            if body == "[]":
                guarded(cur, _EXISTS_SQL, (symbol,), self.statement_timeout_ms)
                if not cur.fetchone()[0]:
                    return None
            return body

        return self._run(work)

    def metadata(self, symbol: str) -> SymbolMetadata | None:
        """First/last/count of the symbol's 5m candles and its timeframes; None when it has none.

        Counting a year of 5m candles reads ~75k index entries (~15 ms), so a found symbol's answer is
        kept for `metadata_ttl_s` seconds: it lags a write by at most that. Unknown symbols are never
        cached, so the cache holds at most one entry per symbol with candles.
        """
        now = time.monotonic()
        cached = self._metadata.get(symbol)
        if cached and cached[0] > now:
            return cached[1]
        found = self._query_metadata(symbol)
        if found is not None and self.metadata_ttl_s > 0:
            self._metadata[symbol] = (now + self.metadata_ttl_s, found)
        return found

    def _query_metadata(self, symbol: str) -> SymbolMetadata | None:
        higher = [(tf, rel) for tf, (rel, _) in TIMEFRAMES.items() if rel != BASE_RELATION]
        available = sql.SQL(", ").join(
            sql.SQL("EXISTS (SELECT 1 FROM {} WHERE symbol = %(symbol)s)").format(sql.Identifier(rel))
            for _, rel in higher
        )
        query = sql.SQL(_METADATA_SQL).format(available=available)

        def work(cur):
            guarded(cur, query, {"symbol": symbol}, self.statement_timeout_ms)
            return cur.fetchone()

        first, last, count, *flags = self._run(work)
        if not count:
            return None
        timeframes = ["5m"] + [tf for (tf, _), present in zip(higher, flags) if present]
        return SymbolMetadata(symbol=symbol, timeframes=timeframes, first=int(first), last=int(last), count=int(count))

    def symbols(self) -> list[str]:
        def work(cur):
            guarded(cur, _SYMBOLS_SQL, None, self.statement_timeout_ms)
            return [row[0] for row in cur.fetchall()]
        return self._run(work)


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
