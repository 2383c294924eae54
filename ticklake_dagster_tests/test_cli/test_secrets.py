"""No secret in any output a user or a log collector sees, whatever form the connection string takes."""

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from ticklake_dagster_tests import servers
from ticklake_dagster_tests.test_cli.test_commands import ticklake

PASSWORD = "Pw-s3cret-9q"


def unreachable_dsns(port: int) -> dict[str, str]:
    """Every form libpq takes a password in, pointing at a closed port, plus URIs libpq cannot parse."""
    return {
        "key_value": f"host=127.0.0.1 port={port} user=u password={PASSWORD} dbname=db connect_timeout=2",
        "key_value_quoted": f"host=127.0.0.1 port={port} user=u password='{PASSWORD} x\\'y' dbname=db",
        "query": f"postgresql://u@127.0.0.1:{port}/db?password={PASSWORD}&connect_timeout=2",
        "userinfo": f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/db?connect_timeout=2",
        "malformed_scheme": f"postgresql//u:{PASSWORD}@127.0.0.1:{port}/db",
        "malformed_ipv6": f"postgresql://u:{PASSWORD}@[::1/db",
        "malformed_percent": f"postgresql://u:{PASSWORD}%zz@127.0.0.1:{port}/db",
        "key_value_split": f"host=127.0.0.1 port={port} password={PASSWORD} {PASSWORD[:6]}x dbname=db",
    }


@pytest.mark.parametrize("form", list(unreachable_dsns(1)))
def test_migrate_never_prints_the_database_password(env, form):
    dsn = unreachable_dsns(servers.free_port())[form]
    proc = ticklake({**env, "DATABASE_URL": dsn}, "migrate", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, out
    assert PASSWORD not in out and PASSWORD[:6] not in out, out


def test_materialize_never_prints_credentials_in_the_lake_endpoint(env):
    port = servers.free_port()
    env = {
        **env,
        "TICKLAKE_LAKE_URL": "s3://ticks",
        "R2_ENDPOINT": f"http://KEYID:{PASSWORD}@127.0.0.1:{port}",
        "R2_ACCESS_KEY_ID": "id",
        "R2_SECRET_ACCESS_KEY": "topsecret-key",
    }
    proc = ticklake(env, "materialize", "EURUSD", "2025-11-13", "--dry-run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "127.0.0.1" in out  # the endpoint is still named, only its password is masked
    assert PASSWORD not in out and "topsecret" not in out, out


@pytest.mark.parametrize("form", ["key_value", "query", "malformed_scheme"])
def test_serve_startup_line_and_503_warnings_hide_the_password(env, form):
    dsn = unreachable_dsns(servers.free_port())[form]
    port = servers.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", "serve", "--port", str(port)],
        env={**env, "DATABASE_URL": dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        servers.wait_for_port(port, proc, timeout=60)
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30)
            assert answer.value.code == 503
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Candles API and chart on" in out
    assert "database unavailable" in out
    assert PASSWORD not in out and PASSWORD[:6] not in out, out
