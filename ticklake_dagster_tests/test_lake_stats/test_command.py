"""`ticklake lake stats` end to end on a folder lake: JSON figures, the text tables, one-line errors."""

import datetime as dt
import json

import numpy as np

from ticklake_dagster.commands.cli import main
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet


def test_lake_stats_command(file_lake_resource, monkeypatch, capsys):
    monkeypatch.setenv("TICKLAKE_LAKE_URL", file_lake_resource.url)
    lake = file_lake_resource.get_lake()
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    ts = day_start_ms(day) + np.arange(500, dtype="int64") * 1000
    data = ticks_to_parquet(ts, np.full(500, 1.1), np.full(500, 1.1001))
    lake.put(raw_part_key("ETH-USD", day, int(ts[0])), data)
    assert main(["lake", "stats", "--json", "--no-database"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (eth,) = doc["symbols"]
    assert (eth["symbol"], eth["ticks"], eth["raw_bytes"], eth["raw_parts"]) == ("ETH-USD", 500, len(data), 1)
    assert eth["uncompacted"] == [str(day)]
    assert doc["cost"]["r2"]["total_usd"] >= 0 and doc["cost"]["r2"]["lines"][0]["name"] == "storage"
    assert main(["lake", "stats", "--symbol", "ETH-USD", "--no-database"]) == 0
    out = capsys.readouterr().out
    assert "ETH-USD" in out and "TOTAL" in out and "Cloudflare R2" in out and "not compacted yet" in out


def test_lake_stats_bad_input(file_lake_resource, monkeypatch, capsys):
    monkeypatch.setenv("TICKLAKE_LAKE_URL", file_lake_resource.url)
    assert main(["lake", "stats", "--from", "2025-13-01", "--no-database"]) == 1
    assert "Invalid date '2025-13-01'" in capsys.readouterr().err
    assert main(["lake", "stats", "--symbol", "../x", "--no-database"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["lake", "stats", "--from", "2025-02-01", "--to", "2025-01-01", "--no-database"]) == 1
