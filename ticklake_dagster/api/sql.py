"""Read-only candle queries through a connection pool; relation names come only from the timeframes table."""

import dataclasses
import datetime as dt
import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import psycopg2
from psycopg2 import sql

from ticklake_dagster.candles.session_bars import bar_starts, on_utc_hours, whole_bars
from ticklake_dagster.candles.sql import rollup_expressions
from ticklake_dagster.core.errors import DatabaseError
from ticklake_dagster.core.redaction import describe_database_error, describe_dsn
from ticklake_dagster.core.sessions import session_for
from ticklake_dagster.core.timeframes import (
    BASE,
    BY_NAME,
    FROM_TICKS,
    INTRADAY,
    OHLC,
    ROLLUPS,
    SERVED,
    SESSION_SOURCE,
    SESSION_TIMEFRAMES,
    VOLUMES,
    side_columns,
    stored_source,
)

log = logging.getLogger("ticklake.api")

# PostgreSQL serializes the candles (row_to_json is compact and keeps column order): no per-row Python.
# date_part (float8) rather than extract (numeric): bucket starts are whole seconds, and it is cheaper.
# A non-finite price would serialize as the string "Infinity"/"NaN": such rows are never served (NaN
# sorts above Infinity in PostgreSQL, so one comparison drops both).
_CANDLES_SQL = """
SELECT coalesce(json_agg(c ORDER BY c.time), '[]')::text
FROM (SELECT date_part('epoch', time)::bigint AS time, {o} AS open, {h} AS high, {l} AS low, {c} AS close,
             trades, spread_avg, bid_volume, ask_volume
      FROM {relation}
      WHERE symbol = %(symbol)s AND time >= %(start)s AND time <= %(end)s
        AND greatest(abs({o}), abs({h}), abs({l}), abs({c})) < 'Infinity'::float8
      ORDER BY {relation}.time LIMIT %(limit)s) AS c
"""
# Candles rolled up at query time from a stored relation: `bar` numbers each row's bar, `bar_start` gives its
# start in unix seconds. Rows from `first` (the first whole bar's start) to `until` (the last one's end).
_ROLLUP_SQL = """
SELECT coalesce(json_agg(c ORDER BY c.time), '[]')::text
FROM (SELECT {bar_start} AS time, open, high, low, close, trades, spread_avg, bid_volume, ask_volume
      FROM (SELECT {bar} AS bar, {aggregates}
            FROM {relation}
            WHERE symbol = %(symbol)s AND time >= %(first)s AND time < %(until)s
              AND greatest(abs({o}), abs({h}), abs({l}), abs({c})) < 'Infinity'::float8
            GROUP BY bar) AS b
      ORDER BY bar LIMIT %(limit)s) AS c
"""
# An intraday timeframe that is not stored (10m, 30m, 2h, 6h), from the widest stored one dividing it.
_INTRADAY_BAR = ("floor(date_part('epoch', time) / %(width)s)::bigint", "bar * %(width)s")
# Session bars (1d, 1w, 1M), from candles_1h: `bounds` are the bars' starts and where the last one ends
# (candles/session_bars.py), each row's bar is found by width_bucket (a binary search), and bar i's start is
# bounds[i]; rows before the first bound (bar 0) or after the last are never read.
_SESSION_BAR = ("width_bucket(date_part('epoch', time), %(bounds)s::float8[])", "(%(bounds)s::float8[])[bar]::bigint")
_DAYS_SQL = """
SELECT d FROM unnest(%s::timestamptz[]) AS d
WHERE EXISTS (SELECT 1 FROM {relation} WHERE symbol = %s AND time >= d AND time < d + interval '24 hours')
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


class CandleDatabase(Protocol):
    """Where the candles are: `candles.database.Database` (`ticklake serve`) or the `DatabaseResource` wrapping it."""

    @property
    def connect_timeout(self) -> int: ...

    def resolved_url(self) -> str: ...

    def ensure_schema(self) -> str: ...


def guarded(cur, query, params, timeout_ms: int) -> None:
    """Execute `query` read-only under a statement timeout, in one round trip.

    The settings are transaction-local (the caller ends the transaction), so nothing leaks into the
    session, which PgBouncer in transaction mode would hand to another client. Even a query bug
    cannot change data through the API. On an autocommit (asynchronous) connection the transaction
    is opened here.
    """
    conn = cur.connection
    opens = conn.autocommit and conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    start = "BEGIN READ ONLY" if opens else "SET TRANSACTION READ ONLY"
    prefix = sql.SQL(start + "; SET LOCAL statement_timeout = {}; ").format(sql.Literal(int(timeout_ms)))
    cur.execute(prefix + (query if isinstance(query, sql.Composable) else sql.SQL(query)), params)


class DeadlineExceeded(Exception):
    """The database did not answer before the request's deadline."""


def wait_until(conn, deadline: float) -> None:
    """Drive an asynchronous psycopg2 connection until its current operation completes, or the deadline.

    The client-side bound that statement_timeout cannot give: a frozen server, a stalled network or a
    paused VM never runs its own timer, and the kernel still acknowledges the bytes we send.
    """
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded
        poller = select.poll()  # anew each time: libpq may switch sockets while connecting (SSL fallback)
        poller.register(conn.fileno(), select.POLLIN if state == psycopg2.extensions.POLL_READ else select.POLLOUT)
        poller.poll(max(1, int(remaining * 1000)))


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


class CandleStore:
    """Candles, metadata and symbols from PostgreSQL/TimescaleDB.

    `pooled=False` opens a new connection per request: the naive baseline the benchmark compares against.
    Connections are asynchronous psycopg2 connections driven under a deadline: every request (waiting
    for a free connection, connecting, every statement) answers within `request_timeout_s`, also when
    the server is frozen and its own statement_timeout never fires. The pool opens connections on
    demand (so the server starts while the database is down), at most `pool_size` at once.
    """

    def __init__(
        self,
        database: CandleDatabase,
        *,
        pool_size: int = 8,
        pooled: bool = True,
        migrate: bool = True,
        statement_timeout_ms: int = 4_000,
        request_timeout_s: float = 5.0,
        metadata_ttl_s: float = 5.0,
    ):
        self.database = database
        self.pool_size = max(1, pool_size)
        self.pooled = pooled
        self.migrate = migrate
        self.statement_timeout_ms = statement_timeout_ms
        self.request_timeout_s = request_timeout_s
        self.metadata_ttl_s = metadata_ttl_s
        self._metadata: dict[str, tuple[float, SymbolMetadata]] = {}
        self.flavor: str | None = None
        self._url: str | None = None
        self._idle: list = []
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.pool_size)

    # -- connections -------------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict:
        # TCP keepalives and tcp_user_timeout end a connection whose peer vanished (a network cut);
        # wait_until bounds the rest. connect_timeout is libpq's own, in whole seconds, at least 2.
        timeout = max(2, min(int(self.database.connect_timeout), int(self.request_timeout_s)))
        return {
            "async_": True,
            "application_name": "ticklake-api",
            "connect_timeout": timeout,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": int(self.request_timeout_s * 1000),
        }

    def _prepare(self, deadline: float) -> str:
        """Resolve the URL and apply migrations once; DatabaseUnavailable when either fails."""
        if not self._prepare_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise DatabaseUnavailable(f"no answer from the database within {self.request_timeout_s:g}s (preparing)")
        try:
            if self._url is None:
                try:
                    url = self.database.resolved_url()
                    self.flavor = self.database.ensure_schema() if self.migrate else None
                except DatabaseError as e:
                    raise DatabaseUnavailable(str(e)) from None
                self._url = url
            return self._url
        finally:
            self._prepare_lock.release()

    def _new_connection(self, url: str, deadline: float):
        try:
            conn = psycopg2.connect(url, **self._connect_kwargs())
        except psycopg2.Error as e:
            raise DatabaseUnavailable(
                f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}"
            ) from None
        try:
            wait_until(conn, deadline)
        except DeadlineExceeded:
            conn.close()
            raise DatabaseUnavailable(
                f"no answer from the database within {self.request_timeout_s:g}s (connecting)"
            ) from None
        except psycopg2.Error as e:
            conn.close()
            raise DatabaseUnavailable(
                f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}"
            ) from None
        return conn

    def _checkout(self, url: str, deadline: float) -> tuple[psycopg2.extensions.connection, bool]:
        """(connection, whether it is fresh); an idle pooled one when there is one."""
        with self._lock:
            if self.pooled and self._idle:
                return self._idle.pop(), False
        return self._new_connection(url, deadline), True

    def _checkin(self, conn) -> None:
        idle = conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        if self.pooled and not conn.closed and idle:
            with self._lock:
                self._idle.append(conn)
        else:
            conn.close()

    def _run(self, work: Callable[..., T]) -> T:
        """Run `work(query)` in one read-only transaction, within the request deadline.

        `query(sql, params)` executes a statement under guarded() and returns the cursor with its
        result. Pooled connections the server dropped (a restart) are replaced and the work retried.
        """
        deadline = time.monotonic() + self.request_timeout_s
        url = self._prepare(deadline)
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise DatabaseUnavailable(f"all {self.pool_size} database connections busy for {self.request_timeout_s:g}s")
        try:
            while True:
                conn, fresh = self._checkout(url, deadline)

                def query(statement, params=None, conn=conn):
                    remaining_ms = int((deadline - time.monotonic()) * 1000)
                    cur = conn.cursor()
                    guarded(cur, statement, params, max(1, min(self.statement_timeout_ms, remaining_ms)))
                    wait_until(conn, deadline)
                    return cur

                try:
                    result = work(query)
                    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                        ending = conn.cursor()  # held: psycopg2 polls an asynchronous query through its cursor
                        ending.execute("ROLLBACK")  # end the read-only transaction; nothing to commit
                        wait_until(conn, deadline)
                except DeadlineExceeded:
                    conn.close()  # mid-statement: the connection cannot be reused
                    raise DatabaseUnavailable(
                        f"no answer from the database within {self.request_timeout_s:g}s"
                    ) from None
                except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                    dropped = conn.closed
                    conn.close()
                    if fresh or not dropped or time.monotonic() >= deadline:
                        raise DatabaseUnavailable(describe_database_error(e, url)) from None
                    continue  # the server dropped an idle connection (restart, failover): try another
                except psycopg2.Error as e:
                    conn.close()
                    raise DatabaseUnavailable(describe_database_error(e, url)) from None
                except BaseException:
                    conn.close()
                    raise
                self._checkin(conn)
                return result
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- queries ---------------------------------------------------------------------------------

    def ping(self) -> str:
        """Round-trip to the database; returns the flavor ('timescaledb', 'postgres' or 'unknown')."""

        def work(query):
            query("SELECT 1").fetchone()

        self._run(work)
        return self.flavor or "unknown"

    def candles_json(
        self, symbol: str, timeframe: str, start: int, end: int, limit: int, price: str = "mid"
    ) -> str | None:
        """The JSON array of `price`'s candles with start <= time <= end (unix s), or None when the symbol is
        unknown. Rows written before the bid and ask were stored have none: they are left out of bid/ask."""
        sides = dict(zip(("o", "h", "l", "c"), (sql.Identifier(n) for n in side_columns(price))))
        params = {"symbol": symbol, "start": _utc(start), "end": _utc(end), "limit": limit}
        if timeframe in BY_NAME:
            query = sql.SQL(_CANDLES_SQL).format(relation=sql.Identifier(BY_NAME[timeframe].relation), **sides)
        else:
            relation, bar = self._rollup_window(symbol, timeframe, start, end, params)
            query = sql.SQL(_ROLLUP_SQL).format(
                bar=sql.SQL(bar[0]),
                bar_start=sql.SQL(bar[1]),
                aggregates=_rollup_aggregates(price),
                relation=sql.Identifier(relation),
                **sides,
            )

        def work(run):
            body = run(query, params).fetchone()[0]
            if body == "[]" and not run(_EXISTS_SQL, (symbol,)).fetchone()[0]:
                return None
            return body

        return self._run(work)

    @staticmethod
    def _rollup_window(symbol: str, timeframe: str, start: int, end: int, params: dict) -> tuple[str, tuple]:
        """The stored relation a timeframe rolls up from and its bar expressions; sets the rows' window in
        `params` (whole bars starting within [start, end])."""
        if timeframe in SESSION_TIMEFRAMES:
            bounds = [float(b) for b in whole_bars(session_for(symbol), timeframe, start, end)]
            if len(bounds) < 2:  # no bar starts in the range: an empty window
                bounds = [float(start), float(start)]
            params.update(bounds=bounds, first=_utc(int(bounds[0])), until=_utc(int(bounds[-1])))
            return BY_NAME[source_timeframe(symbol, timeframe, start, end)].relation, _SESSION_BAR
        width = INTRADAY[timeframe]
        source = stored_source(timeframe)
        if source is None:
            raise ValueError(f"{timeframe} candles are built from ticks, not from the database")
        first = -(-start // width) * width  # the first bucket starting within the range, whole
        params.update(width=width, first=_utc(first), until=_utc(end // width * width + width))
        return source.relation, _INTRADAY_BAR

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
        available = sql.SQL(", ").join(
            sql.SQL("EXISTS (SELECT 1 FROM {} WHERE symbol = %(symbol)s)").format(sql.Identifier(tf.relation))
            for tf in ROLLUPS
        )
        query = sql.SQL(_METADATA_SQL).format(available=available)

        def work(run):
            return run(query, {"symbol": symbol}).fetchone()

        first, last, count, *flags = self._run(work)
        if not count:
            return None
        stored = {BASE.name} | {tf.name for tf, present in zip(ROLLUPS, flags) if present}
        timeframes = [name for name in SERVED if name not in FROM_TICKS and source_of(name) in stored]
        return SymbolMetadata(symbol=symbol, timeframes=timeframes, first=int(first), last=int(last), count=int(count))

    def days_with_candles(self, symbol: str, timeframe: str, days: list[dt.date]) -> set[dt.date]:
        """Which of `days` (UTC) hold at least one of the symbol's candles in the timeframe's relation.

        One index probe per day: this is how the API decides that a day comes from the database.
        """
        if not days:
            return set()
        query = sql.SQL(_DAYS_SQL).format(relation=sql.Identifier(BY_NAME[timeframe].relation))
        starts = [dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc) for d in days]

        def work(run):
            return {row[0].astimezone(dt.timezone.utc).date() for row in run(query, (starts, symbol)).fetchall()}

        return self._run(work)

    def symbols(self) -> list[str]:
        def work(query):
            return [row[0] for row in query(_SYMBOLS_SQL).fetchall()]

        return self._run(work)


def _rollup_aggregates(price: str) -> sql.Composable:
    """The rollup of one price side under the API's names (open, high, low, close), then ticks, spread, volumes."""
    exprs = rollup_expressions()
    names = {**dict(zip(side_columns(price), OHLC)), **{n: n for n in ("trades", "spread_avg", *VOLUMES)}}
    return sql.SQL(", ").join(sql.SQL(f"{exprs[column]} AS {name}") for column, name in names.items())


def source_timeframe(symbol: str, timeframe: str, start: int, end: int) -> str:
    """The stored timeframe a served one is read from: itself, the widest stored one dividing it, or the one its
    session bars roll up (candles_1h, or candles_5m for a session whose day does not start on a UTC hour)."""
    if timeframe in INTRADAY:
        source = stored_source(timeframe)
        return source.name if source else BASE.name
    return SESSION_SOURCE.name if on_utc_hours(bar_starts(session_for(symbol), timeframe, start, end)) else BASE.name


def source_of(name: str) -> str:
    """The stored timeframe whose candles a served one needs: intraday ones their divisor, session bars 1h."""
    if name in SESSION_TIMEFRAMES:
        return SESSION_SOURCE.name
    source = stored_source(name)
    return source.name if source else ""


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
