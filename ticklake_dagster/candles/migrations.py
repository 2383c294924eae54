"""Ordered SQL migrations with per-flavor variants, recorded in `schema_migrations`.

Files are `NNNN_name.sql` (both flavors) or `NNNN_name.timescaledb.sql` / `NNNN_name.postgres.sql`.
The flavor is chosen once, when the first migration runs (TimescaleDB when the extension is
available), and recorded, so a database never ends up half one and half the other.
"""

import dataclasses
import re
import sysconfig
from pathlib import Path

from ticklake_dagster.core.errors import DatabaseError
from ticklake_dagster.core.redaction import describe_database_error
from ticklake_dagster.core.settings import get
from ticklake_dagster.core.timeframes import ROLLUPS

TIMESCALEDB = "timescaledb"
POSTGRES = "postgres"
_FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<flavor>timescaledb|postgres))?\.sql$")
# Any constant works; it only keeps two processes from migrating the same database at once.
_LOCK_ID = 0x7469636B


# Where a built wheel installs migrations/ (pyproject.toml's data-files): under the environment's data path.
INSTALLED_MIGRATIONS = Path("share") / "ticklake" / "migrations"


def migrations_dir() -> Path:
    """TICKLAKE_MIGRATIONS_DIR, else the checkout's migrations/ (source and editable installs), else the wheel's."""
    override = get("TICKLAKE_MIGRATIONS_DIR")
    if override:
        candidates = [Path(override)]
    else:
        checkout = Path(__file__).resolve().parents[2] / "migrations"
        candidates = [checkout, Path(sysconfig.get_path("data")) / INSTALLED_MIGRATIONS]
    for path in candidates:
        if path.is_dir():
            return path
    raise DatabaseError(f"Migrations folder not found at {candidates[0]} (set TICKLAKE_MIGRATIONS_DIR)")


@dataclasses.dataclass(frozen=True)
class Migration:
    version: str
    name: str
    files: dict[str | None, Path]  # flavor (None = both) -> file

    def file_for(self, flavor: str) -> Path:
        return self.files.get(flavor) or self.files[None]


def discover(path: Path | None = None) -> list[Migration]:
    by_version: dict[str, Migration] = {}
    for f in sorted((path or migrations_dir()).glob("*.sql")):
        m = _FILE_RE.match(f.name)
        if not m:
            raise DatabaseError(f"Migration file {f.name} does not match NNNN_name[.flavor].sql")
        mig = by_version.setdefault(m["version"], Migration(m["version"], m["name"], {}))
        mig.files[m["flavor"]] = f
    for mig in by_version.values():
        if None not in mig.files and set(mig.files) != {TIMESCALEDB, POSTGRES}:
            raise DatabaseError(f"Migration {mig.version} needs a .sql for both flavors or one per flavor")
    return [by_version[v] for v in sorted(by_version)]


@dataclasses.dataclass
class MigrationReport:
    flavor: str
    applied: list[str]
    already: int


def timescaledb_available(cur) -> bool:
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    return cur.fetchone() is not None


def detect_flavor(cur) -> str:
    """The recorded flavor of a migrated database, or what a fresh one will get."""
    cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if cur.fetchone()[0]:
        cur.execute("SELECT flavor FROM schema_migrations ORDER BY version LIMIT 1")
        row = cur.fetchone()
        if row:
            return row[0]
    return TIMESCALEDB if timescaledb_available(cur) else POSTGRES


def refresh_all_aggregates(cur) -> None:
    """Fill every continuous aggregate from all of candles_5m, lowest level first (autocommit: CALL cannot run in
    a transaction block). A migration that recreates an aggregate leaves it empty; this puts the rows back."""
    for tf in ROLLUPS:
        cur.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (tf.relation,))


def apply_migrations(conn, path: Path | None = None) -> MigrationReport:
    """Apply every migration not yet recorded, each in its own transaction."""
    migrations = discover(path)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, flavor text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            flavor = detect_flavor(cur)
            cur.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in cur.fetchall()}
            applied = []
            for mig in migrations:
                if mig.version in done:
                    continue
                sql = mig.file_for(flavor).read_text()
                conn.autocommit = False
                try:
                    cur.execute(sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name, flavor) VALUES (%s, %s, %s)",
                        (mig.version, mig.name, flavor),
                    )
                    conn.commit()
                except Exception as e:
                    conn.rollback()
                    raise DatabaseError(
                        f"Migration {mig.file_for(flavor).name} failed: {describe_database_error(e)}"
                    ) from None
                finally:
                    conn.autocommit = True
                applied.append(mig.file_for(flavor).name)
            if applied and flavor == TIMESCALEDB:
                refresh_all_aggregates(cur)
            return MigrationReport(flavor=flavor, applied=applied, already=len(done))
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
