"""Serve the candles API and chart page (FastAPI on uvicorn), on the embedded database unless DATABASE_URL is set."""

import dataclasses
import socket
import sys

from ticklake_dagster.core.errors import InvalidInput, LakeError, TicklakeError


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    parser.add_argument("--pool-size", type=int, default=8, help="database connections kept open (default 8)")
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="never apply migrations (a read-only database user); the schema must exist",
    )


def check_port_free(host: str, port: int) -> None:
    """Fail with one line before uvicorn would, with a traceback-free message, on a taken port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InvalidInput(f"Cannot listen on host {host!r}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(address)
        except OSError as e:
            raise TicklakeError(f"Cannot listen on {host}:{port}: {e.strerror}") from None


def run(args) -> int:
    if not 0 < args.port < 65536:
        raise InvalidInput(f"--port must be between 1 and 65535, got {args.port}")
    if not 1 <= args.pool_size <= 100:
        raise InvalidInput(f"--pool-size must be between 1 and 100, got {args.pool_size}")
    check_port_free(args.host, args.port)

    import uvicorn

    from ticklake_dagster.api import create_app
    from ticklake_dagster.api.lake_fallback import ondemand_cache_bytes, ondemand_max_days
    from ticklake_dagster.candles.database import Database
    from ticklake_dagster.candles.from_lake import LakeCandles
    from ticklake_dagster.lake.config import LakeConfig

    database = Database.from_env()
    max_days, cache_bytes = ondemand_max_days(), ondemand_cache_bytes()
    try:
        # One retry, not five: a chart waiting on a down lake should get its 503 within seconds.
        config = dataclasses.replace(LakeConfig.from_env(), max_attempts=2)
        lake = LakeCandles(config.get_lake(), max_days=max_days, cache_bytes=cache_bytes)
        where = lake.lake.describe()
    except LakeError as e:
        print(f"warning: no candles from the lake beyond the database: {e}", file=sys.stderr, flush=True)
        lake, where = None, "none"
    app = create_app(database, pool_size=args.pool_size, migrate=not args.no_migrate, lake=lake)
    print(
        f"Candles API and chart on http://{args.host}:{args.port}/ (database {database.describe()}, lake {where})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
