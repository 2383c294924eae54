import subprocess
import sys

import psutil
import pytest

from ticklake_dagster.candles.database import Database, stop_embedded_server
from ticklake_dagster.candles.migrations import discover
from ticklake_dagster.core.errors import DatabaseError
from ticklake_dagster.core.redaction import describe_dsn
from ticklake_dagster.core.timeframes import TIMEFRAMES
from ticklake_dagster.defs.resources import DatabaseResource
from ticklake_dagster_tests import servers

RELATIONS = [tf.relation for tf in TIMEFRAMES]


def relation_kinds(database) -> dict:
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)", (RELATIONS,))
        return dict(cur.fetchall())


def test_migrations_on_plain_postgres_create_every_relation_once(database):
    first = database.migrate()
    assert first.flavor == "postgres"
    assert first.applied == [m.file_for("postgres").name for m in discover()]
    assert relation_kinds(database) == {name: "r" for name in RELATIONS}
    again = database.migrate()
    assert again.applied == [] and again.already == len(first.applied)
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT version, flavor FROM schema_migrations ORDER BY version")
        assert [r[1] for r in cur.fetchall()] == ["postgres"] * len(first.applied)


def test_migrations_on_timescaledb_create_hypertable_and_continuous_aggregates(timescale_database):
    report = timescale_database.migrate()
    assert report.flavor == "timescaledb"
    with timescale_database.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'"
        )
        assert [r[0] for r in cur.fetchall()] == ["candles_5m"]
        cur.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY view_name"
        )
        assert dict(cur.fetchall()) == {name: True for name in RELATIONS[1:]}
        cur.execute(
            "SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        )
        assert cur.fetchone()[0] == len(RELATIONS) - 1
    assert timescale_database.migrate().applied == []


def test_unreachable_database_is_one_line_without_password(tmp_path):
    port = servers.free_port()
    db = DatabaseResource(
        url=f"postgresql://ticklake:hunter2@127.0.0.1:{port}/x", home=str(tmp_path), connect_timeout=2
    )
    with pytest.raises(DatabaseError) as e:
        db.ensure_schema()
    message = str(e.value)
    assert message.startswith("Database unreachable at postgresql://ticklake:***@127.0.0.1")
    assert "hunter2" not in message and "\n" not in message


def test_describe_dsn_masks_only_the_password():
    assert (
        describe_dsn("postgresql://u:p%40ss@h:5432/db?sslmode=require")
        == "postgresql://u:***@h:5432/db?sslmode=require"
    )
    assert describe_dsn("postgresql://u@h/db") == "postgresql://u@h/db"
    assert describe_dsn("host=h user=u password='a b' dbname=db") == "host=h user=u password=*** dbname=db"
    assert describe_dsn("postgresql//u:pw@h/db") == "<unparseable database url>"


def test_embedded_server_is_reused_across_resources(tmp_path):
    first = DatabaseResource(home=str(tmp_path))
    try:
        url = first.resolved_url()
        assert "/ticklake?" in url
        assert DatabaseResource(home=str(tmp_path)).resolved_url() == url
        with first.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone()[0] == "ticklake"
        stop_embedded_server(tmp_path / "pg")
        with first.connect() as conn, conn.cursor() as cur:  # the next use starts it again
            cur.execute("SELECT 1")
    finally:
        stop_embedded_server(tmp_path / "pg")


def server_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # PID 1 of a container may not reap it
    except psutil.NoSuchProcess:
        return False


def test_a_server_started_by_another_process_is_stopped(tmp_path):
    """`ticklake materialize` leaves the server running; a later process must be able to stop it."""
    start = (
        "import sys; from ticklake_dagster.defs.resources import DatabaseResource as D; "
        "D(home=sys.argv[1]).resolved_url()"
    )
    subprocess.run([sys.executable, "-c", start, str(tmp_path)], check=True)
    pid_file = tmp_path / "pg" / "postmaster.pid"
    assert pid_file.exists()
    pid = int(pid_file.read_text().splitlines()[0])
    stop_embedded_server(tmp_path / "pg")
    assert not pid_file.exists()
    assert not server_running(pid)
    stop_embedded_server(tmp_path / "pg")  # stopping a stopped server is fine


def test_a_failing_migration_names_its_file_and_applies_nothing(database, tmp_path, monkeypatch):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok_table (x int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE broken (x nosuchtype);")
    monkeypatch.setenv("TICKLAKE_MIGRATIONS_DIR", str(tmp_path))
    with pytest.raises(DatabaseError, match="0002_broken.sql failed"):
        database.migrate()
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations")
        assert [r[0] for r in cur.fetchall()] == ["0001"]
        cur.execute("SELECT to_regclass('broken')")
        assert cur.fetchone()[0] is None


def test_the_resource_and_the_plain_database_read_the_same_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db.example:5432/ticklake")
    resource, plain = DatabaseResource.from_env(), Database.from_env()
    assert resource.url == "DATABASE_URL"  # the UI shows the variable's name, not the password
    assert resource.database() == plain and plain.resolved_url() == "postgresql://u:hunter2@db.example:5432/ticklake"
    assert plain.describe() == "postgresql://u:***@db.example:5432/ticklake" and "hunter2" not in repr(plain)
    monkeypatch.delenv("DATABASE_URL")
    assert DatabaseResource.from_env().url is None and Database.from_env() == Database(url=None, home=str(tmp_path))
