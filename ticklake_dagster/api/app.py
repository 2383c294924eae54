"""The candles API and chart page: FastAPI routes, parameter rules, and errors as one-line JSON bodies."""

import contextlib
import logging
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ticklake_dagster.api import downloads, lake_fallback
from ticklake_dagster.api.models import (
    Candle,
    ErrorBody,
    Health,
    Metadata,
    Price,
    Symbols,
    Timeframe,
    Timeframes,
    TimeframeWidth,
)
from ticklake_dagster.api.sql import CandleDatabase, CandleStore, DatabaseUnavailable
from ticklake_dagster.candles.from_lake import LakeCandles, LakeUnavailable, day_seconds
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.redaction import RedactingFilter
from ticklake_dagster.core.symbols import validate_symbol
from ticklake_dagster.core.timeframes import FROM_TICKS, SERVED, width_seconds

log = logging.getLogger("ticklake.api")
log.addFilter(RedactingFilter())  # 503 reasons and tracebacks may quote a library message that names a secret

STATIC_DIR = Path(__file__).parent / "static"
MAX_LIMIT = 10_000
MAX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second PostgreSQL and Python both represent
# The symbol rule (ticklake_dagster.core.symbols) written without a lookahead, so OpenAPI tools can generate
# from it: no leading '.', never two dots in a row. validate_symbol stays the authority.
OPENAPI_SYMBOL_PATTERN = r"^[A-Z0-9]([A-Z0-9_-]|\.[A-Z0-9_-])*\.?$"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A parameter is missing or invalid"},
    503: {"model": ErrorBody, "description": "The database, or the lake for days only it holds, is unreachable"},
}
LAKE_DAYS_RESPONSE = {
    200: {
        "headers": {
            lake_fallback.LAKE_DAYS_HEADER: {
                "description": (
                    "Comma-separated UTC days (YYYY-MM-DD) whose candles were built from the lake; absent when none"
                ),
                "schema": {"type": "string"},
            }
        }
    }
}
UNKNOWN_SYMBOL: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No candles for this symbol"}
}
# format=csv|parquet answers, beside the JSON that response_model documents
DOWNLOADS = {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
}
TICKS_JSON = {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}

DESCRIPTION = """\
Candles from the ticklake PostgreSQL/TimescaleDB relations `candles_5m` ... `candles_12h`, of the mid, the bid
or the ask (`price=`), with tick counts and summed bid/ask volumes. `1d`, `1w` and `1M` are session bars rolled
up from `candles_1h` at query time: FX days close at 17:00 New York (with its DST), weeks run Sunday 17:00 to
Friday 17:00; crypto's are UTC days and Monday weeks. `time` is always the bar's start in unix seconds.

Every error is a JSON object `{"detail": "<one line>"}`: 400 for a bad parameter, 404 for an unknown
symbol, 503 when the database is unreachable.

Days the database no longer (or not yet) holds are built from the lake's compacted days by the same code
that fills `candles_5m`: the response header `X-Ticklake-Lake-Days` lists them, at most
TICKLAKE_ONDEMAND_MAX_DAYS (31) per request; 503 when the lake cannot be read for them.
"""

SymbolParam = Annotated[
    str,
    Query(
        description="1-32 characters of A-Z 0-9 . _ -, starting with a letter or digit, no '..'",
        min_length=1,
        max_length=32,
        pattern=OPENAPI_SYMBOL_PATTERN,
        examples=["EURUSD"],
    ),
]


class ApiError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def bucket_count(start: int, end: int, width: int) -> int:
    """How many buckets of `width` seconds start within [start, end] (buckets are aligned to the epoch)."""
    return max(0, end // width - (-(-start // width)) + 1)


def validation_message(errors: list[dict]) -> str:
    """One line for the first invalid parameter, in the words a caller of this API needs."""
    if not errors:
        return "Invalid request"
    err = errors[0]
    loc = err.get("loc") or ()
    name = str(loc[-1]) if loc else "request"
    kind = err.get("type", "")
    shown = repr(err.get("input"))[:40]
    if kind == "missing":
        return f"Missing required parameter '{name}'" + (" (unix seconds)" if name in ("from", "to") else "")
    if name == "timeframe":
        return "Invalid timeframe specified"
    if name == "price":
        return f"Invalid price {shown}: expected mid, bid or ask"
    if name == "symbol":
        try:
            validate_symbol(err.get("input"))
        except InvalidInput as e:
            return str(e)
    if name in ("from", "to"):
        return f"Parameter '{name}' must be an integer number of unix seconds from 0 to {MAX_TIME}, got {shown}"
    if name == "limit":
        return f"Parameter 'limit' must be an integer from 1 to {MAX_LIMIT}, got {shown}"
    return f"Invalid parameter '{name}': {err.get('msg', 'invalid value')}"


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure becomes `{"detail": ...}`; database and unexpected errors never show their internals."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.detail)

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput):
        return _error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError):
        return _error(400, validation_message(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, exc: DatabaseUnavailable):
        log.warning("database unavailable: %s", exc.reason)
        return _error(503, "Database unavailable", {"Retry-After": "5"})

    @app.exception_handler(LakeUnavailable)
    async def lake_unavailable(request: Request, exc: LakeUnavailable):
        log.warning("lake unavailable: %s", exc.reason)
        return _error(
            503, "Lake unavailable: the range needs days only the lake holds; retry later", {"Retry-After": "5"}
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
        return _error(500, "Internal server error")


def _openapi(app: FastAPI):
    """FastAPI's document without its 422 responses: this API answers bad parameters with 400."""

    def build() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def _version() -> str:
    try:
        return importlib_metadata.version("ticklake")
    except importlib_metadata.PackageNotFoundError:
        return "0"


def create_app(
    database: CandleDatabase | None = None,
    *,
    store: CandleStore | None = None,
    pool_size: int = 8,
    pooled: bool = True,
    migrate: bool = True,
    metadata_ttl_s: float = 5.0,
    lake: LakeCandles | None = None,
) -> FastAPI:
    """The API and chart page over `database` (a `Database` or `DatabaseResource`), or over a ready `store`,
    and, when `lake` is given, candles built from it for the days the database does not hold."""
    if store is None and database is None:
        raise ValueError("create_app needs a database or a store")
    if store is None:
        assert database is not None  # checked above
        store = CandleStore(
            database, pool_size=pool_size, pooled=pooled, migrate=migrate, metadata_ttl_s=metadata_ttl_s
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            store.ping()  # open the pool (and start an embedded server) before the first request
        except DatabaseUnavailable as e:
            log.warning("database unavailable at startup, will retry per request: %s", e.reason)
        yield
        store.close()
        if lake is not None:
            lake.close()

    # docs_url/redoc_url off: FastAPI's docs pages load their scripts from a CDN.
    app = FastAPI(
        title="ticklake candles API",
        version=_version(),
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.lake = lake
    # below 5 minutes, candles are built from the lake's ticks: served only with a lake
    served = [tf for tf in SERVED if lake is not None or tf not in FROM_TICKS]
    install_error_handlers(app)

    @app.get(
        "/api/candles",
        response_model=list[Candle],
        responses={
            **ERROR_RESPONSES,
            **UNKNOWN_SYMBOL,
            200: {**LAKE_DAYS_RESPONSE[200], "content": DOWNLOADS},
        },
        summary="Candles of a symbol and timeframe in a time range",
    )
    def candles(
        symbol: SymbolParam,
        timeframe: Annotated[
            Timeframe, Query(description="Bucket width; 1d, 1w and 1M follow the symbol's session (FX: 17:00 New York)")
        ],
        start: Annotated[int, Query(alias="from", ge=0, le=MAX_TIME, description="Unix seconds, inclusive")],
        end: Annotated[int, Query(alias="to", ge=0, le=MAX_TIME, description="Unix seconds, inclusive")],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Most candles the range may span")] = MAX_LIMIT,
        fmt: Annotated[
            Literal["json", "csv", "parquet"],
            Query(alias="format", description="json (default), or csv / parquet with the export's columns"),
        ] = "json",
        price: Annotated[Price, Query(description="The price side the OHLC is of: mid (default), bid or ask")] = "mid",
    ):
        """Candles whose bucket starts within [from, to], ordered by time.

        A range that could hold more than `limit` buckets is refused with 400, never cut short.
        """
        validate_symbol(symbol)
        if start > end:
            raise ApiError(400, f"'from' ({start}) is after 'to' ({end})")
        spanned = bucket_count(start, end, width_seconds(timeframe))
        if spanned > limit:
            raise ApiError(
                400,
                f"Range too large: it spans {spanned} {timeframe} candles and the limit is {limit}; "
                "narrow from/to or use a larger timeframe",
            )
        answer = lake_fallback.candles(store, lake, symbol, timeframe, start, end, limit, price=price)
        if answer.body is None:
            raise ApiError(404, f"Unknown symbol {symbol}: no candles")
        headers = (
            {lake_fallback.LAKE_DAYS_HEADER: ",".join(str(d) for d in answer.lake_days)} if answer.lake_days else None
        )
        body = answer.body if fmt == "json" else downloads.candles_download(answer.body, fmt)
        return Response(content=body, media_type=downloads.media_type(fmt), headers=headers)

    @app.get(
        "/api/ticks",
        responses={
            **ERROR_RESPONSES,
            404: {"model": ErrorBody, "description": "The API serves no lake"},
            200: {"description": "The ticks", "content": {**TICKS_JSON, **DOWNLOADS}},
        },
        summary="Ticks of a symbol straight from the lake, at most 7 days per request",
    )
    def ticks(
        symbol: SymbolParam,
        start: Annotated[int, Query(alias="from", ge=0, le=MAX_TIME, description="Unix seconds, inclusive")],
        end: Annotated[int, Query(alias="to", ge=0, le=MAX_TIME, description="Unix seconds, inclusive")],
        fmt: Annotated[
            Literal["json", "csv", "parquet"], Query(alias="format", description="json (default), csv, parquet")
        ] = "json",
    ):
        """Validated, deduplicated ticks with time in [from, to]: JSON objects {time (unix ms), bid, ask,
        bid_volume, ask_volume}, or CSV/Parquet with the export's columns; streamed day by day."""
        validate_symbol(symbol)
        if start > end:
            raise ApiError(400, f"'from' ({start}) is after 'to' ({end})")
        if lake is None:
            raise ApiError(404, "This API serves no lake (start it with a lake configured)")
        try:
            body = downloads.stream_ticks(lake.lake, symbol, start, end, fmt)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        return StreamingResponse(body, media_type=downloads.media_type(fmt))

    @app.get(
        "/api/metadata",
        response_model=Metadata,
        response_model_exclude_none=True,
        responses={**ERROR_RESPONSES, **UNKNOWN_SYMBOL},
        summary="What the API holds for a symbol",
    )
    def symbol_metadata(symbol: SymbolParam):
        """First and last 5-minute candle, their count, the timeframes holding candles, and the lake's days.

        Answers are cached for a few seconds (5 by default), so a write shows up here at most that late.
        """
        validate_symbol(symbol)
        found = store.metadata(symbol)
        span = lake_fallback.lake_span(lake, symbol)
        lake_days: dict[str, Any] = (
            {"lake_first_day": str(span[0]), "lake_last_day": str(span[1]), "lake_max_days": lake.max_days}
            if span and lake is not None
            else {}
        )
        if found is None and span is None:
            raise ApiError(404, f"Unknown symbol {symbol}: no candles")
        if found is None:  # only the lake holds it: every timeframe is built from there
            assert span is not None  # checked above
            return Metadata(
                symbol=symbol,
                timeframes=served,
                first=day_seconds(span[0]),
                last=day_seconds(span[1]) + 86_400 - 300,
                count=0,
                **lake_days,
            )
        return Metadata(
            symbol=found.symbol,
            timeframes=[tf for tf in served if tf in found.timeframes or (lake is not None and tf in FROM_TICKS)],
            first=found.first,
            last=found.last,
            count=found.count,
            **lake_days,
        )

    @app.get("/api/timeframes", response_model=Timeframes, summary="Timeframes and their bucket widths")
    def timeframes():
        """The chart reads its timeframe picker and bucket widths from here."""
        return Timeframes(timeframes=[TimeframeWidth(name=name, seconds=width_seconds(name)) for name in served])

    @app.get(
        "/api/symbols", response_model=Symbols, responses={503: ERROR_RESPONSES[503]}, summary="Symbols with candles"
    )
    def symbols():
        return Symbols(symbols=store.symbols())

    @app.get("/health", response_model=Health, responses={503: ERROR_RESPONSES[503]}, summary="Database reachable")
    def health():
        return Health(status="ok", database=store.ping())

    @app.get("/", include_in_schema=False)
    def chart_page():
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.openapi = _openapi(app)  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
    return app
