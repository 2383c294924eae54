"""Migration 0004 on a database holding candles of the old shape (mid only), on both flavors: every row stays,
the higher timeframes hold what they held, the old UTC `candles_1d` rows equal the crypto session days now
served, and re-materializing a day fills its bid and ask."""

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import psycopg2
import pytest

from ticklake_dagster.api.sql import CandleStore
from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.migrations import apply_migrations, discover, migrations_dir
from ticklake_dagster.candles.sql import MidOnly, mid_only_candles, refresh_after_write, write_day
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster_tests.factories import random_ticks

OLD = ("open", "high", "low", "close", "trades", "spread_avg")
BEFORE = ("candles_5m", "candles_15m", "candles_1h", "candles_4h", "candles_12h", "candles_1d")
DAYS = [dt.date(2025, 11, 12), dt.date(2025, 11, 13), dt.date(2025, 11, 14)]
# The rollup tables' fill before 0004, as it was written then (plain PostgreSQL).
OLD_FILL = """
INSERT INTO {relation} (time, symbol, open, high, low, close, trades, spread_avg)
SELECT date_bin(INTERVAL '{seconds} seconds', time, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket, symbol,
       (array_agg(open ORDER BY time))[1], max(high), min(low), (array_agg(close ORDER BY time DESC))[1],
       sum(trades), sum(spread_avg * trades) / sum(trades)
FROM {source} GROUP BY bucket, symbol
"""
WIDTHS = {"candles_15m": 900, "candles_1h": 3600, "candles_4h": 14400, "candles_12h": 43200, "candles_1d": 86400}


def old_database(conn, tmp_path) -> str:
    """Migrations 0001-0003 only, as a database created before this change has them."""
    old = tmp_path / "old_migrations"
    old.mkdir()
    for f in migrations_dir().glob("000[123]_*.sql"):
        shutil.copy(f, old / f.name)
    return apply_migrations(conn, old).flavor


def ticks_of(day: dt.date, seed: int) -> pd.DataFrame:
    ticks = random_ticks(seed, day, n=3000).sort_values("ts_ms", kind="stable", ignore_index=True)
    return ticks.drop_duplicates(ignore_index=True)


def insert_old_rows(conn, flavor: str) -> None:
    with conn, conn.cursor() as cur:
        for symbol, seed in (("EURUSD", 1), ("BTC-USD", 2)):
            for i, day in enumerate(DAYS):
                candles = build_candles(ticks_of(day, seed + 10 * i))
                for row in candles[["time", *OLD]].itertuples(index=False):
                    cur.execute(
                        "INSERT INTO candles_5m (time, symbol, open, high, low, close, trades, spread_avg)"
                        " VALUES (to_timestamp(%s / 1000.0), %s, %s, %s, %s, %s, %s, %s)",
                        (int(row.time), symbol, *row[1:5], int(row.trades), float(row.spread_avg)),
                    )
        if flavor == "postgres":
            source = "candles_5m"
            for relation, seconds in WIDTHS.items():
                cur.execute(OLD_FILL.format(relation=relation, seconds=seconds, source=source))
                source = relation
    if flavor == "timescaledb":
        conn.autocommit = True
        with conn.cursor() as cur:
            for relation in WIDTHS:
                cur.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (relation,))
        conn.autocommit = False


def snapshot(conn, relations) -> dict[str, list[tuple]]:
    with conn.cursor() as cur:
        found = {}
        for relation in relations:
            cur.execute(f"SELECT time, symbol, {', '.join(OLD)} FROM {relation} ORDER BY symbol, time")
            found[relation] = [(*r[:6], int(r[6]), r[7]) for r in cur.fetchall()]
    conn.commit()  # the runner switches to autocommit, which needs no open transaction
    return found


@pytest.fixture(params=["postgres", "timescaledb"])
def any_database(request):
    return request.getfixturevalue("database" if request.param == "postgres" else "timescale_database")


def test_an_old_database_migrates_without_losing_a_row(any_database, tmp_path):
    with any_database.connect() as conn:
        flavor = old_database(conn, tmp_path)
        insert_old_rows(conn, flavor)
        before = snapshot(conn, BEFORE)
        assert all(len(rows) > 0 for rows in before.values())

        report = apply_migrations(conn)
        assert report.applied == [m.file_for(flavor).name for m in discover() if m.version == "0004"]
        after = snapshot(conn, BEFORE[:-1])
        for relation in BEFORE[:-1]:
            assert after[relation] == before[relation], relation
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('candles_1d')")
            assert cur.fetchone()[0] is None
            cur.execute("SELECT count(*) FROM candles_5m WHERE bid_open IS NOT NULL OR bid_volume IS NOT NULL")
            assert cur.fetchone()[0] == 0  # nothing invented: the old rows had no bid/ask
        # what `ticklake migrate` reports, naming the command that fills them
        per_day = len(before["candles_5m"]) // (2 * len(DAYS))
        assert mid_only_candles(conn) == [
            MidOnly(symbol, DAYS[0], DAYS[-1], per_day * len(DAYS)) for symbol in ("BTC-USD", "EURUSD")
        ]

    # The crypto session day is the UTC day: the bars now built from candles_1h equal the old candles_1d rows.
    store = CandleStore(any_database, pooled=False)
    start, end = day_start_ms(DAYS[0]) // 1000, day_start_ms(DAYS[-1]) // 1000
    served = pd.DataFrame(json.loads(store.candles_json("BTC-USD", "1d", start, end, 10)))
    old_days = [r for r in before["candles_1d"] if r[1] == "BTC-USD"]
    assert [int(r[0].timestamp()) for r in old_days] == served["time"].tolist()
    for column, index in (("open", 2), ("high", 3), ("low", 4), ("close", 5), ("trades", 6)):
        assert served[column].tolist() == [r[index] for r in old_days], column
    np.testing.assert_allclose(served["spread_avg"], [r[7] for r in old_days], rtol=1e-12)
    # price=bid leaves out the rows that have no bid yet, rather than inventing one
    assert store.candles_json("EURUSD", "5m", start, end, 2000, price="bid") == "[]"

    # Re-materializing a day (what `ticklake materialize` does from the lake) fills its bid and ask.
    with any_database.connect() as conn:
        ticks = ticks_of(DAYS[1], 11)
        write_day(conn, flavor, "EURUSD", DAYS[1], build_candles(ticks))
        refresh_after_write(conn, flavor, [DAYS[1]])
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), count(bid_open), min(bid_low), max(ask_high) FROM candles_1h"
                " WHERE symbol = 'EURUSD' AND time >= %s AND time < %s",
                (dt.datetime(2025, 11, 13, tzinfo=dt.timezone.utc), dt.datetime(2025, 11, 14, tzinfo=dt.timezone.utc)),
            )
            count, with_bid, bid_low, ask_high = cur.fetchone()
    assert count == with_bid == 24
    assert bid_low == ticks["bid"].min() and ask_high == ticks["ask"].max()


def test_the_migration_is_one_transaction(database, tmp_path):
    """A failure inside 0004 leaves the database as it was (the runner's transaction per file)."""
    with database.connect() as conn:
        old_database(conn, tmp_path)
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE candles_12h RENAME TO candles_12h_moved")  # 0004 will fail on it
        conn.commit()
        with pytest.raises(Exception, match="0004_price_sides"):
            apply_migrations(conn)
    with psycopg2.connect(database.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.columns WHERE column_name = 'bid_open'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT to_regclass('candles_1d') IS NOT NULL")
        assert cur.fetchone()[0]
