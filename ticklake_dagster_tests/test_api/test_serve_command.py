"""`ticklake serve` refuses bad options with one line, before starting anything."""

import socket
import subprocess
import sys


def ticklake(*args):
    return subprocess.run(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_serve_is_listed_in_help():
    assert "serve" in ticklake("--help").stdout


def test_an_out_of_range_port_is_one_line():
    proc = ticklake("serve", "--port", "70000")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: --port must be between 1 and 65535, got 70000"


def test_a_taken_port_is_one_line_not_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ticklake("serve", "--port", str(port))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: Cannot listen on 127.0.0.1:{port}: Address already in use"
