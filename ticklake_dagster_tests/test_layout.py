"""The layers hold: every module outside `defs/` imports without Dagster, checked module by module."""

import os
import re
import subprocess
import sys
from pathlib import Path

import ticklake_dagster

PACKAGE = Path(ticklake_dagster.__file__).parent
DAGSTER_PACKAGES = ("dagster", "dagster_aws", "dagster_postgres", "dagster_webserver")

# In a fresh interpreter: import each module in turn and name the first one after which Dagster is loaded.
PROBE = f"""
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({DAGSTER_PACKAGES!r}))
    if loaded:
        print(name, ",".join(loaded))
        break
"""


def module_names(package: Path = PACKAGE) -> list[str]:
    """Every module of the package, from its files (walk_packages would import the packages it walks)."""
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def outside_defs(names: list[str]) -> list[str]:
    return [n for n in names if not n.startswith("ticklake_dagster.defs") and n != "ticklake_dagster.definitions"]


def probe(*names: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_every_module_outside_defs_imports_without_dagster():
    names = outside_defs(module_names())
    assert len(names) > 40 and "ticklake_dagster.lake.scan" in names and "ticklake_dagster.commands.cli" in names
    assert probe(*names) == ""


def test_the_probe_names_a_module_that_imports_dagster():
    assert probe("ticklake_dagster.core.days", "ticklake_dagster.defs.partitions").startswith(
        "ticklake_dagster.defs.partitions dagster"
    )


def test_dagster_code_lives_only_under_defs():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("defs/") or rel == "definitions.py":
            continue
        top_level = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        assert not [line for line in top_level if line.split()[1].split(".")[0] in DAGSTER_PACKAGES], rel


def test_only_the_settings_module_reads_the_environment():
    """Reads go through core/settings.py; elsewhere `os.environ` is only written for child processes."""
    read = re.compile(r"os\.getenv|os\.environ\.get|os\.environ\[|in os\.environ")
    readers = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if read.search(path.read_text()) and path.relative_to(PACKAGE).as_posix() != "core/settings.py"
    )
    assert readers == []
