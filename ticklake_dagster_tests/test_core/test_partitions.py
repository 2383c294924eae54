"""Partition keys, encoded and decoded through Dagster's partition API, and the run tags that carry them."""

import datetime as dt

import dagster as dg
import pytest

from ticklake_dagster.defs.partitions import (
    partition_key,
    range_tags,
    request_partitions,
    run_partition_label,
    split_partition,
    tags_partitions,
)

DAY = dt.date(2025, 11, 13)


def test_a_key_decodes_to_what_encoded_it():
    key = partition_key("BTC-USD", DAY)
    assert split_partition(str(key)) == ("BTC-USD", DAY)
    assert key.keys_by_dimension == {"symbol": "BTC-USD", "date": "2025-11-13"}


@pytest.mark.parametrize("key", ["", "EURUSD", "2025-11-13", "2025-11-13|eur/usd", "2025-13-01|EURUSD", "a|b|c"])
def test_what_is_not_a_daily_partition_key_decodes_to_none(key):
    assert split_partition(key) is None


def test_a_range_run_covers_every_day_between_its_ends():
    tags = range_tags(("EURUSD", DAY), ("EURUSD", DAY + dt.timedelta(days=2)))
    assert tags_partitions(tags) == [("EURUSD", DAY + dt.timedelta(days=i)) for i in range(3)]
    assert run_partition_label(tags) == "2025-11-13|EURUSD...2025-11-15|EURUSD"
    # Two symbols: the rectangle's symbols are unknown here, so any symbol counts for those days.
    assert tags_partitions(range_tags(("EURUSD", DAY), ("GBPUSD", DAY))) == [("*", DAY)]


def test_a_single_partition_request_and_its_label():
    request = dg.RunRequest(partition_key=str(partition_key("EURUSD", DAY)))
    assert request_partitions(request) == [("EURUSD", DAY)]
    assert run_partition_label({"dagster/partition": "2025-11-13|EURUSD"}) == "2025-11-13|EURUSD"
    assert run_partition_label({}) is None
