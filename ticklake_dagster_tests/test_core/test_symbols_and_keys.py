import datetime as dt

import pytest

from ticklake_dagster.core.errors import InvalidInput, LakeError
from ticklake_dagster.core.symbols import is_valid_symbol, validate_symbol
from ticklake_dagster.lake.keys import daily_key, parse_raw_part_key, raw_day_prefix, raw_part_key
from ticklake_dagster.lake.storage import check_key

DAY = dt.date(2025, 11, 13)


@pytest.mark.parametrize("symbol", ["EURUSD", "BTC-USD", "XAU.USD", "A", "X_1", "A" * 32])
def test_valid_symbols(symbol):
    assert validate_symbol(symbol) == symbol


@pytest.mark.parametrize(
    "symbol",
    ["", "../x", "..", "eurusd", "-EUR", ".EUR", "EUR/USD", "EUR USD", "A" * 33, "EURUSD\n", "A..B", None, 5, "ÉUR"],
)
def test_invalid_symbols_refused_with_one_line(symbol):
    assert not is_valid_symbol(symbol)
    with pytest.raises(InvalidInput) as e:
        validate_symbol(symbol)
    assert "\n" not in str(e.value) and "Invalid symbol" in str(e.value)


def test_keys_follow_the_public_layout():
    assert raw_day_prefix("EURUSD", DAY) == "ticks/EURUSD/2025/11/13/"
    key = raw_part_key("EURUSD", DAY, 1763000000123, suffix="abc")
    assert key == "ticks/EURUSD/2025/11/13/part-1763000000123-abc.parquet"
    assert daily_key("BTC-USD", DAY) == "ticks_daily/symbol=BTC-USD/date=2025-11-13/ticks.parquet"
    assert parse_raw_part_key(key) == ("EURUSD", DAY)


def test_generated_part_names_do_not_collide():
    keys = {raw_part_key("EURUSD", DAY, 1) for _ in range(1000)}
    assert len(keys) == 1000


@pytest.mark.parametrize(
    "key",
    [
        "ticks/../x/2025/11/13/part-1-a.parquet",
        "ticks/EURUSD/2025/13/40/part-1-a.parquet",
        "ticks/EURUSD/2025/11/13/notapart.parquet",
        "other/EURUSD/2025/11/13/part-1-a.parquet",
        "ticks/eurusd/2025/11/13/part-1-a.parquet",
    ],
)
def test_malformed_part_keys_are_not_parts(key):
    assert parse_raw_part_key(key) is None


def test_key_builders_refuse_escaping_symbols():
    for build in (
        lambda: raw_day_prefix("../x", DAY),
        lambda: daily_key("..", DAY),
        lambda: raw_part_key("/etc", DAY, 0),
    ):
        with pytest.raises(InvalidInput):
            build()


@pytest.mark.parametrize("key", ["../x", "a/../../b", "/etc/passwd", "a//b", "a\\b", "./a", "a/.", "", "a\x00b"])
def test_lake_refuses_keys_that_could_escape(key):
    with pytest.raises(LakeError):
        check_key(key)
