"""A symbol-day's 24 hour bodies turned into its raw part: decoded, concatenated, encoded as Parquet.

`encode_day` is a plain top-level function of picklable arguments so the importer can run it in worker
processes: LZMA and Parquet encoding are most of an import's CPU, and in their own processes they keep
every core busy without competing with the fetching threads for one interpreter's GIL.
"""

import dataclasses
import io
import signal

import pyarrow as pa
import pyarrow.parquet as pq

from ticklake_dagster.lake.parts import TICK_SCHEMA
from ticklake_dagster.sources.dukascopy.decode import DecodeError, HourTicks, concat_hours
from ticklake_dagster.sources.dukascopy.feeds import FEEDS
from ticklake_dagster.sources.dukascopy.instruments import Instrument

HOUR_MS = 3_600_000
# Units of the base asset (bi5's millions converted on decoding), as every volume in the lake.
VOLUME_FIELDS = [
    pa.field("ask_volume", pa.float64(), nullable=False),
    pa.field("bid_volume", pa.float64(), nullable=False),
]
PART_SCHEMA = pa.schema([*TICK_SCHEMA, *VOLUME_FIELDS])


class HourUndecodable(Exception):
    """One hour's body did not decode; the importer fetches that hour again."""

    def __init__(self, hour: int, reason: str):
        super().__init__(hour, reason)
        self.hour = hour
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class EncodedDay:
    data: bytes  # the raw part, Parquet
    ticks: int
    empty_hours: int


def encode_day(feed_name: str, instrument: Instrument, day_start_ms: int, bodies: list[bytes]) -> EncodedDay:
    """The day's raw part from its 24 hour bodies (UTC days have no DST: hour i starts i hours after midnight)."""
    feed = FEEDS[feed_name]
    hours = []
    for i, body in enumerate(bodies):
        try:
            hours.append(feed.decode(body, day_start_ms + i * HOUR_MS, instrument))
        except DecodeError as e:
            raise HourUndecodable(i, str(e)) from None
    ticks = concat_hours(hours)
    return EncodedDay(part_parquet(ticks), len(ticks), sum(1 for h in hours if len(h) == 0))


def part_parquet(ticks: HourTicks) -> bytes:
    """The day as Parquet (zstd like every raw part), delta-encoded times, dictionaries for prices and volumes.

    Measured on 100k-tick days: a day's prices and volumes repeat a few thousand distinct values, so
    dictionaries make the part 16% smaller than plain pages (4.61 against 5.48 bytes/tick) and no slower
    to write (11-12 ms against 12-14 ms); epoch times never repeat and are delta-encoded. Every Parquet
    reader (pyarrow, DuckDB, Polars) reads these encodings.
    """
    buf = io.BytesIO()
    pq.write_table(
        part_table(ticks),
        buf,
        compression="zstd",
        use_dictionary=["bid", "ask", "ask_volume", "bid_volume"],
        column_encoding={"ts": "DELTA_BINARY_PACKED"},
    )
    return buf.getvalue()


def part_table(ticks: HourTicks) -> pa.Table:
    """The day as a raw part: the lake's tick schema plus Dukascopy's volumes."""
    return pa.table(
        [
            pa.array(ticks.ts_ms, pa.int64()).cast(PART_SCHEMA.field("ts").type),
            pa.array(ticks.bid, pa.float64()),
            pa.array(ticks.ask, pa.float64()),
            pa.array(ticks.ask_volume, pa.float64()),
            pa.array(ticks.bid_volume, pa.float64()),
        ],
        schema=PART_SCHEMA,
    )


def block_interrupts() -> None:
    """For the threads that start worker processes: a child inherits the blocked SIGINT from its first instruction.

    A terminal's Ctrl-C reaches the whole process group; a worker still starting up would otherwise die
    of it with a traceback. The importer's main thread still receives it and stops the import.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the importer, which finishes the writes it started and drops the rest."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
