"""`ticklake export` as a user runs it: CSV to standard output, Parquet to a file, equal to read_ticks/read_candles."""

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake_dagster import read_candles, read_ticks
from ticklake_dagster.commands.exporting import destination
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster_tests.test_cli.conftest import user_env
from ticklake_dagster_tests.test_cli.test_commands import assert_one_line_error, ticklake


@pytest.fixture(scope="module")
def seeded_lake(tmp_path_factory) -> str:
    """Seeded once for the module: its tests only read the lake (an export writes to its own --out)."""
    home = tmp_path_factory.mktemp("export-home")
    ticklake(user_env(home), "seed-demo", "--symbols", "EURUSD", "--days", "4", "--end", "2025-11-17", "--rate", "0.05")
    return f"file://{home / 'lake'}"


@pytest.fixture
def seeded(env, seeded_lake):
    return {**env, "TICKLAKE_LAKE_URL": seeded_lake}, seeded_lake


def test_ticks_as_csv_on_standard_output(seeded):
    env, lake_url = seeded
    out = ticklake(env, "export", "ticks", "EURUSD", "2025-11-14:2025-11-17").stdout
    got = pd.read_csv(io.StringIO(out))
    assert list(got.columns) == ["time", "bid", "ask", "bid_volume", "ask_volume"]
    assert got["time"].iloc[0].endswith("Z") and len(got["time"].iloc[0]) == len("2025-11-14T00:00:00.000Z")
    expected = read_ticks("EURUSD", "2025-11-14", "2025-11-17", lake_url=lake_url)
    assert pd.to_datetime(got["time"], utc=True).dt.as_unit("ms").astype("int64").tolist() == (
        expected["ts"].astype("int64").tolist()
    )
    assert got["bid"].tolist() == expected["bid"].tolist() and got["bid_volume"].isna().all()


def test_candles_as_parquet_match_read_candles(seeded, tmp_path):
    env, lake_url = seeded
    target = tmp_path / "eurusd-1d.parquet"
    proc = ticklake(
        env, "export", "candles", "EURUSD", "2025-11-14:2025-11-17", "--timeframe", "1d", "--out", str(target)
    )
    assert "candles written to" in proc.stderr
    table = pq.read_table(target)
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert table.column_names == ["time", "open", "high", "low", "close", "trades", "bid_volume", "ask_volume"]
    expected = read_candles("EURUSD", "1d", "2025-11-14", "2025-11-17", lake_url=lake_url)
    got = table.to_pandas()
    # day bars that span two UTC days come out whole: the export holds a bar until its last day is read
    assert got["time"].astype("int64").tolist() == expected["time"].astype("int64").tolist()
    for column in ("open", "high", "low", "close", "trades"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert [t.hour for t in got["time"]] == [22] * len(got)  # 17:00 New York in November


def test_the_format_follows_the_extension_and_contradictions_are_refused(seeded, tmp_path):
    env, _ = seeded
    target = tmp_path / "bid.csv"
    ticklake(
        env, "export", "candles", "EURUSD", "2025-11-17", "--timeframe", "15m", "--price", "bid", "--out", str(target)
    )
    assert target.read_text().startswith('"time","open"')
    proc = ticklake(
        env,
        "export",
        "ticks",
        "EURUSD",
        "2025-11-17",
        "--out",
        str(tmp_path / "t.csv"),
        "--format",
        "parquet",
        check=False,
    )
    assert_one_line_error(proc, "--format parquet contradicts --out *")
    proc = ticklake(env, "export", "candles", "EURUSD", "2025-11-17", "--timeframe", "7m", check=False)
    assert_one_line_error(proc, "Invalid timeframe '7m'*")


def test_an_interrupted_export_leaves_no_file_under_the_final_name(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        with destination(str(target)) as stream:
            stream.write(b"half a file")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary file
    with destination(str(target)) as stream:
        stream.write(b"whole")
    assert target.read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    with pytest.raises(InvalidInput, match="does not exist"):
        with destination(str(tmp_path / "missing" / "x.csv")):
            pass
