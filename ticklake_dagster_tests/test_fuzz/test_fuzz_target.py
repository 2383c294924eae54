"""A short, seeded run of the coverage-guided fuzz target (`make fuzz` runs it until stopped)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "fuzz" / "fuzz_ticks.py"
RUNS = 4000  # about a second of the parser and both part readers, starting from fuzz/seeds


def test_the_fuzz_target_runs_clean_from_its_seeds(tmp_path):
    corpus = tmp_path / "corpus"  # libFuzzer adds what it finds to the first folder: never the repository's
    shutil.copytree(ROOT / "fuzz" / "seeds", corpus)
    proc = subprocess.run(
        [sys.executable, str(TARGET), str(corpus), f"-runs={RUNS}", "-seed=1"],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {RUNS} runs" in proc.stderr
    assert len(list(corpus.iterdir())) >= 4
