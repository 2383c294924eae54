"""Shared fixtures: every test talks to real servers on 127.0.0.1, never to mocks of them."""

import os

# The suite's fixed dates (November 2025) stay inside the daily partitions whatever today is; the default
# window moves with the calendar. Set before any ticklake module builds its partitions.
os.environ.setdefault("TICKLAKE_START_DATE", "2024-01-01")
import shutil
import tempfile

import boto3
import psycopg2
import pytest
from botocore.config import Config

from ticklake_dagster.core.timeframes import ROLLUPS
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource
from ticklake_dagster.defs.resources import database as database_module
from ticklake_dagster_tests import servers


def pytest_configure(config):
    """A temporary root of the suite's own: pytest prunes old folders under its shared per-user root,
    and another pytest session on the machine once pruned this session's live PostgreSQL data directory."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="ticklake-tests-")
        config._ticklake_own_basetemp = config.option.basetemp


def pytest_unconfigure(config):
    own = getattr(config, "_ticklake_own_basetemp", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


# Dropped widest first: each reads the one before (candles_1d: what migrations before 0004 left)
ROLLUP_RELATIONS = ["candles_1d", *(tf.relation for tf in reversed(ROLLUPS))]


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory):
    with servers.embedded_postgres(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def database_url(pg_server_url):
    with servers.fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def dagster_storage_template(pg_server_url):
    return servers.dagster_storage_template(pg_server_url)


@pytest.fixture
def dagster_storage_url(pg_server_url, dagster_storage_template):
    """A fresh database for Dagster's own run/event storage (its empty tables), beside the candles database."""
    with servers.fresh_database(pg_server_url, template=dagster_storage_template) as url:
        yield url


@pytest.fixture
def database(database_url, tmp_path) -> DatabaseResource:
    """A DatabaseResource on a fresh, empty plain-PostgreSQL database."""
    return DatabaseResource(url=database_url, home=str(tmp_path))


@pytest.fixture(scope="session")
def timescaledb_url():
    with servers.timescaledb_server() as url:
        yield url


@pytest.fixture
def timescale_database(timescaledb_url, tmp_path) -> DatabaseResource:
    """A DatabaseResource on the TimescaleDB test server, its ticklake relations dropped first."""
    conn = psycopg2.connect(timescaledb_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in ROLLUP_RELATIONS:
            cur.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
            cur.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
        cur.execute("DROP TABLE IF EXISTS candles_5m CASCADE")  # a hypertable must be dropped on its own
        cur.execute("DROP TABLE IF EXISTS schema_migrations")
    conn.close()
    database_module.forget_migrations()
    return DatabaseResource(url=timescaledb_url, home=str(tmp_path))


@pytest.fixture(scope="session")
def s3_endpoint():
    with servers.moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint, request) -> str:
    name = f"lake-{abs(hash(request.node.nodeid)) % 10**10}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(request_checksum_calculation="when_required"),
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_lake_resource(s3_endpoint, s3_bucket) -> LakeResource:
    return LakeResource(
        url=f"s3://{s3_bucket}/lake",
        endpoint_url=s3_endpoint,
        access_key_id="test",
        secret_access_key="test",
        region_name="us-east-1",
        max_attempts=2,
    )


@pytest.fixture
def file_lake_resource(tmp_path) -> LakeResource:
    return LakeResource(url=f"file://{tmp_path / 'lake'}")


@pytest.fixture(params=["file", "s3"])
def lake_resource(request) -> LakeResource:
    """Each test that takes it runs once against a folder lake and once against the moto S3 server."""
    return request.getfixturevalue(f"{request.param}_lake_resource")
