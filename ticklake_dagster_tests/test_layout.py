"""The layers hold: every module outside `defs/` imports without Dagster, checked module by module."""

import ast
import os
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


SETTINGS_MODULE = "core/settings.py"
# Code that builds the environment of a child process: `os.environ.update(...)` and `dict(os.environ)` only.
CHILD_PROCESS_WRITERS = {"commands/dev.py", "defs/instance.py"}
OS_ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_uses(source: str) -> list[tuple[int, str]]:
    """(line, "read" or "write") for every use of the process environment through `os`."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            uses += [(node.lineno, "read") for alias in node.names if alias.name in OS_ENV_NAMES | {"*"}]
        if not (
            isinstance(node, ast.Attribute)
            and node.attr in OS_ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            continue
        parent = parents[node]
        update = isinstance(parent, ast.Attribute) and parent.attr == "update" and isinstance(parents[parent], ast.Call)
        copy = isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "dict"
        store = isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store | ast.Del)
        uses.append((node.lineno, "write" if node.attr == "environ" and (update or copy or store) else "read"))
    return sorted(uses)


def test_only_the_settings_module_reads_the_environment():
    """Reads go through core/settings.py (the registry); elsewhere `os.environ` is only written, for child processes."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        uses = environment_uses(path.read_text())
        if rel != SETTINGS_MODULE:
            found.update(
                {f"{rel}:{line}": use for line, use in uses if use == "read" or rel not in CHILD_PROCESS_WRITERS}
            )
    assert found == {}
    for rel in CHILD_PROCESS_WRITERS:  # the scan sees their writes
        assert "write" in {use for _, use in environment_uses(PACKAGE.joinpath(rel).read_text())}, rel


def test_the_environment_scan_tells_reads_from_writes():
    source = "import os\nfrom os import getenv\na = os.environ.get('X')\nos.environ.update(b)\nc = dict(os.environ)\n"
    assert environment_uses(source) == [(2, "read"), (3, "read"), (4, "write"), (5, "write")]
    assert environment_uses("import os\nos.environ['X'] = '1'\nz = os.environ['X']\n") == [(2, "write"), (3, "read")]
    assert environment_uses("import os\nx = os.getenv('X')\ny = 'X' in os.environ\n") == [(2, "read"), (3, "read")]
