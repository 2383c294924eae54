"""A built wheel carries migrations/: installed into another environment, `ticklake migrate` runs from elsewhere."""

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def test_the_wheel_runs_ticklake_migrate_from_another_folder(tmp_path, database_url):
    built = run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp_path / "dist"),
        str(ROOT),
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("ticklake-*.whl"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    installed = run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel))
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The wheel's own code and data; its dependencies borrowed from this environment (no .pth, so no checkout).
    env = {k: v for k, v in os.environ.items() if k not in ("TICKLAKE_MIGRATIONS_DIR", "PYTHONPATH")}
    env.update(
        DATABASE_URL=database_url, TICKLAKE_HOME=str(tmp_path / "home"), PYTHONPATH=sysconfig.get_paths()["purelib"]
    )
    probe = run(str(python), "-c", "import ticklake_dagster; print(ticklake_dagster.__file__)", cwd=elsewhere, env=env)
    assert probe.returncode == 0 and str(env_dir) in probe.stdout, probe.stdout + probe.stderr
    migrated = run(str(env_dir / "bin" / "ticklake"), "migrate", cwd=elsewhere, env=env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert "applied 0001_candles_5m" in migrated.stdout
    assert (env_dir / "share" / "ticklake" / "migrations" / "0001_candles_5m.sql").is_file()
