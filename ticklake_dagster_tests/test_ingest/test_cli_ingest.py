"""`ticklake ingest` as a process: kill -9 mid-stream and restart, SIGTERM flush, a locked spool, and the lake it
fills.
"""

import asyncio
import datetime as dt
import json
import signal
import subprocess
import sys

import numpy as np
import pandas as pd

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.test_ingest.conftest import (
    lake_ticks,
    log_lines,
    metric,
    s3_env,
    spool_segments,
    start_ingest,
    tick_rows,
    wait_until,
)

DAY = dt.date(2025, 11, 13)
SECRET = "s3cr3t-never-in-a-log"


class StreamingTicks:
    """A feed handler that streams numbered ticks (JSON arrays of 1-37) until the client goes, remembering each
    sent tick.
    """

    def __init__(self, symbols=("EURUSD", "GBPUSD")):
        self.symbols = symbols
        self.sent: list[dict] = []
        self.rng = np.random.default_rng(3)
        self.mid = 1.1

    def _next(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            i = len(self.sent)
            self.mid += float(self.rng.normal(0, 2e-5))
            tick = {
                "symbol": self.symbols[int(self.rng.integers(len(self.symbols)))],
                "bid": round(self.mid, 5),
                "ask": round(self.mid + 0.0001, 5),
                "timestamp": day_start_ms(DAY) + 8 * 3_600_000 + i * 37,
            }
            self.sent.append(tick)
            out.append(tick)
        return out

    async def __call__(self, ws, n: int) -> None:
        while True:
            # Build and send in one step, so `sent` is exactly what went out, in order.
            await ws.send(json.dumps(self._next(int(self.rng.integers(1, 38)))))
            await asyncio.sleep(0.002)  # pacing, as a live feed sends


def as_frame(ticks: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [t["symbol"] for t in ticks],
            "ts_ms": [t["timestamp"] for t in ticks],
            "bid": [t["bid"] for t in ticks],
            "ask": [t["ask"] for t in ticks],
        }
    )


def test_kill_9_mid_stream_then_restart_gets_every_accepted_tick_into_s3(tmp_path, cli_env, s3_lake_resource, ws_feed):
    env = {**cli_env, **s3_env(s3_lake_resource, SECRET)}
    lake = s3_lake_resource.get_lake()
    stream = StreamingTicks()
    feed = ws_feed(stream)
    port = servers.free_port()
    log1 = tmp_path / "run1.log"
    proc = start_ingest(
        env,
        "--source",
        feed.url,
        "--metrics-port",
        str(port),
        "--batch-size",
        "200",
        "--max-age",
        "60",
        stderr_path=log1,
    )
    try:
        wait_until(
            lambda: (
                _metric_or_0(port, "ticklake_ingest_parts_uploaded_total") >= 4
                and _metric_or_0(port, "ticklake_ingest_ticks_accepted_total") >= 3000
            ),
            timeout=60,
            what="uploads under way",
        )
        accepted_before_kill = metric(port, "ticklake_ingest_ticks_accepted_total")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        feed.close()  # nothing more is sent: `stream.sent` is final
    in_lake_at_kill = len(lake_ticks(lake))
    assert spool_segments(tmp_path / "home"), "the kill should leave accepted ticks in the spool"

    log2 = tmp_path / "run2.log"
    restart = start_ingest(env, stderr_path=log2)  # no source: upload what the spool holds, then exit
    assert restart.wait(60) == 0, log2.read_text()[-2000:]
    assert spool_segments(tmp_path / "home") == []

    lake_frame = lake_ticks(lake)
    assert len(lake_frame) > in_lake_at_kill
    got = set(tick_rows(lake_frame))
    # Commits are in arrival order, so the lake holds exactly a prefix of the stream, at least as long as
    # what the ingester had acknowledged before the kill; replays may repeat a tick, never invent or lose one.
    k = len(got)
    assert k >= accepted_before_kill
    assert got == set(tick_rows(as_frame(stream.sent[:k])))
    replay = [line for line in log_lines(log2) if line["msg"] == "Replaying spool"]
    assert replay and replay[0]["ticks"] > 0

    for symbol in ("EURUSD", "GBPUSD"):
        result = compact_day(lake, symbol, DAY)
        reference = as_frame(stream.sent[:k]).query("symbol == @symbol")[["ts_ms", "bid", "ask"]]
        reference = reference.sort_values("ts_ms", kind="stable", ignore_index=True)
        pd.testing.assert_frame_equal(build_candles(result.ticks), build_candles(reference))
    for path in (log1, log2):
        assert SECRET not in path.read_text()


def _metric_or_0(port: int, name: str) -> float:
    try:
        return metric(port, name)
    except OSError:  # not listening yet
        return 0.0


def test_sigterm_flushes_every_batch_and_a_second_ingester_is_refused(tmp_path, cli_env, s3_lake_resource):
    env = {**cli_env, **s3_env(s3_lake_resource)}
    ticks = [
        {"symbol": s, "bid": 1.1 + i * 1e-5, "ask": 1.1001 + i * 1e-5, "timestamp": day_start_ms(DAY) + i}
        for i, s in enumerate(["EURUSD", "USDJPY", "XAUUSD"] * 150)
    ]
    port = servers.free_port()
    log = tmp_path / "run.log"
    proc = start_ingest(
        env,
        "--source",
        "jsonl:-",
        "--metrics-port",
        str(port),
        "--batch-size",
        "100000",
        "--max-age",
        "3600",
        stdin=subprocess.PIPE,
        stderr_path=log,
    )
    try:
        proc.stdin.write("".join(json.dumps(t) + "\n" for t in ticks).encode())
        proc.stdin.flush()
        wait_until(
            lambda: _metric_or_0(port, "ticklake_ingest_ticks_accepted_total") == len(ticks),
            timeout=60,
            what="all ticks accepted",
        )
        assert metric(port, "ticklake_ingest_parts_uploaded_total") == 0  # nothing due yet: only SIGTERM flushes

        second = subprocess.run(
            [sys.executable, "-m", "ticklake_dagster.commands.cli", "ingest", "--source", "jsonl:-"],
            env=env,
            input=b"",
            capture_output=True,
            timeout=60,
        )
        assert second.returncode == 1
        lines = second.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: Spool ") and f"(pid {proc.pid})" in lines[0], lines

        proc.send_signal(signal.SIGTERM)  # stdin still open: the source would never end by itself
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert tick_rows(lake_ticks(s3_lake_resource.get_lake())) == tick_rows(as_frame(ticks))
    assert spool_segments(tmp_path / "home") == []
    msgs = [line["msg"] for line in log_lines(log)]
    assert "Shutting down: flushing every batch" in msgs and msgs.count("Uploaded ticks to R2") == 3
    assert msgs.index("R2 client initialized") < msgs.index("TickBatcher initialized")


def test_synthetic_ingest_fills_the_lake_that_materialize_reads(tmp_path, cli_env, database_url):
    env = {**cli_env, "DATABASE_URL": database_url}
    log = tmp_path / "run.log"
    proc = start_ingest(env, "--source", "synthetic:EURUSD,GBPUSD@200", "--max-age", "0.5", stderr_path=log)
    try:
        lake_root = tmp_path / "home" / "lake" / "ticks"
        wait_until(lambda: len(list(lake_root.glob("*/*/*/*/*.parquet"))) >= 4, timeout=60, what="parts")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
    from ticklake_dagster.defs.resources import LakeResource

    frame = lake_ticks(LakeResource(url=f"file://{tmp_path / 'home' / 'lake'}").get_lake())
    eur = frame[frame["symbol"] == "EURUSD"]
    day = eur["day"].iloc[0]
    out = subprocess.run(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", "materialize", "EURUSD", str(day)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    n = len(eur[eur["day"] == day][["ts_ms", "bid", "ask"]].drop_duplicates())  # the walk can repeat a quote in a ms
    assert f"EURUSD {day}: merged {n} ticks" in out.stdout
    assert "built 1 candles" in out.stdout or "built 2 candles" in out.stdout
