"""The README and docs/ name every `ticklake` command and every environment variable the code reads."""

import re
from pathlib import Path

from ticklake_dagster.commands.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ticklake_dagster"
README = (ROOT / "README.md").read_text()
DOCS = README + "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
ENV_NAME = re.compile(r"""["'](TICKLAKE_[A-Z0-9_]+|R2_[A-Z0-9_]+|DATABASE_URL|DAGSTER_[A-Z0-9_]+)["']""")
MAX_README_LINES = 300


def env_names_in_code() -> set[str]:
    return {m.group(1) for p in PACKAGE.rglob("*.py") for m in ENV_NAME.finditer(p.read_text())}


def documented(name: str, text: str) -> bool:
    """Named in full, or under a documented family such as `TICKLAKE_INGEST_*`."""
    if re.search(rf"`{name}`|\b{name}\b", text):
        return True
    return any(name.startswith(family) for family in re.findall(r"`([A-Z0-9]+_[A-Z0-9_]+_)\*`", text))


def test_every_command_is_in_the_readme_command_table():
    table = [line for line in README.splitlines() if line.startswith("| `ticklake ")]
    missing = [name for name in COMMANDS if not any(line.startswith(f"| `ticklake {name}") for line in table)]
    assert not missing, f"commands missing from the README's command table: {missing}"


def test_every_environment_variable_is_documented():
    names = env_names_in_code()
    assert {"DATABASE_URL", "TICKLAKE_HOME", "R2_ACCESS_KEY_ID"} <= names  # the scan reads the code right
    missing = sorted(n for n in names if not documented(n, DOCS))
    assert not missing, f"environment variables the code reads but no page documents: {missing}"


def test_the_documented_family_rule_does_not_hide_unknown_names():
    assert documented("TICKLAKE_INGEST_BATCH_SIZE", "| `TICKLAKE_INGEST_*` | see |")
    assert not documented("TICKLAKE_NOT_A_SETTING", DOCS)


def test_the_readme_stays_a_front_door():
    assert len(README.splitlines()) <= MAX_README_LINES
    for link in re.findall(r"\]\((docs/[\w\-]+\.md)", README):
        assert (ROOT / link).exists(), link
