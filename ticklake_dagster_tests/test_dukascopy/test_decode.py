"""Decoders, URLs and the instrument table, checked against bodies encoded here record by record."""

import datetime as dt
import lzma
import struct

import pytest

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.sources.dukascopy.decode import DecodeError, decode_bi5, decode_json
from ticklake_dagster.sources.dukascopy.feeds import FEEDS
from ticklake_dagster.sources.dukascopy.instruments import INSTRUMENTS, market_may_be_open, resolve_instrument
from ticklake_dagster_tests.test_dukascopy.mirror import PRICES, encode_bi5, encode_json, hour_points, units

HOUR = dt.datetime(2019, 2, 5, 7, tzinfo=dt.timezone.utc)
HOUR_MS = int(HOUR.timestamp()) * 1000


def unpack_naively(body: bytes, point: float) -> list[tuple]:
    """The common downloader's loop: one struct.unpack per record."""
    raw = lzma.decompress(body)
    out = []
    for i in range(0, len(raw), 20):
        ms, ask, bid, av, bv = struct.unpack(">IIIff", raw[i : i + 20])
        out.append((HOUR_MS + ms, bid / point, ask / point, units(av), units(bv)))
    return out


@pytest.mark.parametrize("name", sorted(PRICES))
def test_bi5_and_json_decode_to_the_same_ticks_as_a_per_record_decode(name):
    instrument = INSTRUMENTS[name]
    points = hour_points(name, HOUR)
    reference = unpack_naively(encode_bi5(points), instrument.point_value)
    bodies = {"bi5": encode_bi5(points), "json": encode_json(points, HOUR_MS, instrument.point_value)}
    for feed, body in bodies.items():
        decoded = FEEDS[feed].decode(body, HOUR_MS, instrument)
        assert len(decoded) == len(reference) > 0
        assert decoded.ts_ms.tolist() == [r[0] for r in reference]
        assert decoded.bid.tolist() == [r[1] for r in reference]
        assert decoded.ask.tolist() == [r[2] for r in reference]
        assert decoded.ask_volume.tolist() == [r[3] for r in reference]
        assert decoded.bid_volume.tolist() == [r[4] for r in reference]


@pytest.mark.parametrize(
    "name, ask_points, price",
    [
        ("EURUSD", 114_512, 1.14512),
        ("USDJPY", 109_876, 109.876),
        ("EURJPY", 125_001, 125.001),
        ("XAUUSD", 1_312_345, 1312.345),
        ("XAGUSD", 15_678, 15.678),
        ("BTCUSD", 65_432, 6543.2),
        ("ETHUSD", 21_005, 2100.5),
    ],
)
def test_point_factors_of_jpy_metals_and_crypto(name, ask_points, price):
    body = lzma.compress(struct.pack(">IIIff", 1500, ask_points, ask_points - 1, 1.5, 2.25), format=lzma.FORMAT_ALONE)
    ticks = decode_bi5(body, HOUR_MS, resolve_instrument(name).point_value)
    assert ticks.ask.tolist() == [price]
    assert ticks.ts_ms.tolist() == [HOUR_MS + 1500]
    assert ticks.ask_volume.tolist() == [1_500_000.0] and ticks.bid_volume.tolist() == [2_250_000.0]


def test_the_table_holds_the_28_majors_and_crosses_metals_and_crypto():
    fx = [n for n, i in INSTRUMENTS.items() if i.market == "fx"]
    assert len(fx) == 28 and {"EURUSD", "GBPJPY", "AUDNZD", "CADCHF", "NZDCAD"} <= set(fx)
    assert all(INSTRUMENTS[n].point_value == (1e3 if n.endswith("JPY") else 1e5) for n in fx)
    assert INSTRUMENTS["XAUUSD"].json_code == "XAU-USD" and INSTRUMENTS["BTCUSD"].json_code == "BTC-USD"


def test_unknown_instruments_need_a_point_value():
    with pytest.raises(
        InvalidInput, match="Unknown Dukascopy instrument DEUIDXEUR: give its point factor with --point-value"
    ):
        resolve_instrument("DEUIDXEUR")
    assert resolve_instrument("DEUIDXEUR", 1000.0).point_value == 1000.0
    with pytest.raises(InvalidInput, match="positive"):
        resolve_instrument("EURUSD", -1.0)
    with pytest.raises(InvalidInput, match="Invalid symbol"):
        resolve_instrument("../EURUSD")


def test_empty_hours_and_undecodable_bodies():
    assert len(decode_bi5(b"", HOUR_MS, 1e5)) == 0
    assert len(decode_json(encode_json(hour_points("EURUSD", HOUR, 0), HOUR_MS, 1e5), HOUR_MS)) == 0
    body = encode_bi5(hour_points("EURUSD", HOUR))
    with pytest.raises(DecodeError, match="LZMA"):
        decode_bi5(body[: len(body) // 2], HOUR_MS, 1e5)
    with pytest.raises(DecodeError, match="not a whole number of 20-byte records"):
        decode_bi5(lzma.compress(b"x" * 30, format=lzma.FORMAT_ALONE), HOUR_MS, 1e5)
    with pytest.raises(DecodeError, match="JSON"):
        decode_json(b'{"times": [1, 2', HOUR_MS)
    with pytest.raises(DecodeError, match="not the hour asked for"):
        decode_json(encode_json(hour_points("EURUSD", HOUR), HOUR_MS + 1, 1e5), HOUR_MS)


def test_urls_of_both_feeds():
    eurusd = INSTRUMENTS["EURUSD"]
    feb = dt.datetime(2019, 2, 5, 7, tzinfo=dt.timezone.utc)
    assert (
        FEEDS["bi5"].url_for("https://h/datafeed", eurusd, feb) == "https://h/datafeed/EURUSD/2019/01/05/07h_ticks.bi5"
    )
    assert FEEDS["json"].url_for("https://h/v1", eurusd, feb) == "https://h/v1/ticks/EUR-USD/2019/2/5/7"


def test_empty_hours_are_suspicious_only_while_the_market_trades():
    fx, btc = INSTRUMENTS["EURUSD"], INSTRUMENTS["BTCUSD"]

    def at(d: int, h: int) -> dt.datetime:  # 2019-01-04 is a Friday
        return dt.datetime(2019, 1, d, h, tzinfo=dt.timezone.utc)

    assert market_may_be_open(fx, at(4, 12)) and not market_may_be_open(fx, at(4, 22))
    assert not market_may_be_open(fx, at(5, 12)) and not market_may_be_open(fx, at(6, 20))
    assert market_may_be_open(fx, at(6, 22)) and market_may_be_open(btc, at(5, 12))
