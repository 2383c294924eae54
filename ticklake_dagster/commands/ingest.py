"""Run the long-running tick ingester: feeds -> write-ahead spool -> per-symbol Parquet parts in the lake."""

from ticklake_dagster.core.errors import InvalidInput


def add_arguments(parser) -> None:
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="SPEC",
        help="ws://HOST/PATH or wss://…, jsonl:PATH, jsonl:- (stdin), synthetic:SYM1,SYM2@RATE; repeatable. "
        "Without any, upload what the spool holds and exit",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics and /health on this port ($TICKLAKE_INGEST_METRICS_PORT)",
    )
    parser.add_argument(
        "--metrics-host",
        default=None,
        help="address for --metrics-port (default 127.0.0.1, $TICKLAKE_INGEST_METRICS_HOST)",
    )
    parser.add_argument(
        "--give-up-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="finite sources: exit 1, keeping the spool, once the lake took no part this long "
        "(default 300, $TICKLAKE_INGEST_GIVE_UP_SECONDS)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="ticks per part (default 1000)")
    parser.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="flush a symbol's batch this long after its first tick (default 300)",
    )
    parser.add_argument("--spool-dir", default=None, help="write-ahead spool folder (default $TICKLAKE_HOME/spool)")
    parser.add_argument("--subscribe", default=None, metavar="JSON", help="message sent on every WebSocket connect")
    parser.add_argument(
        "--degraded-mode",
        choices=("spool", "file"),
        default=None,
        help="without lake credentials: keep ticks in the spool (default) or write the local file lake",
    )


def run(args) -> int:
    from ticklake_dagster.sources.ingest import logs
    from ticklake_dagster.sources.ingest.backoff import Backoff
    from ticklake_dagster.sources.ingest.config import IngesterConfig
    from ticklake_dagster.sources.ingest.service import IngestService, run_service
    from ticklake_dagster.sources.ingest.sources import parse_source

    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise InvalidInput(f"--metrics-port must be 0-65535, got {args.metrics_port}")
    config = IngesterConfig.from_env(
        batch_size=args.batch_size,
        batch_max_age_seconds=args.max_age,
        spool_dir=args.spool_dir,
        subscribe_message=args.subscribe,
        degraded_mode=args.degraded_mode,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        give_up_seconds=args.give_up_after,
    )
    reconnect = Backoff(config.reconnect_base_seconds, config.reconnect_max_seconds)
    sources = [parse_source(s, subscribe=config.subscribe_message, reconnect=reconnect) for s in args.source]
    logs.configure()
    return run_service(IngestService(config, sources))
