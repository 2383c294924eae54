"""Run a command tree in its own process group and stop all of it, with a deadline, on SIGINT/SIGTERM/SIGHUP.

Why: `dagster dev` ignores SIGTERM, and on a terminal's Ctrl-C every process of the foreground group
(webserver, daemon, code servers) gets SIGINT at once and their orderly shutdown over pipes stalls.
Here only the supervisor sees the signal; it asks the tree's root to shut down (SIGINT, once), then
kills whatever of the group and the tree is still alive at the deadline.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _set_parent_death_signal() -> None:
    """In the child before exec: get SIGINT if the supervisor dies without stopping us (Linux only)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGINT))


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The distinct processes still running (zombies count as gone: only their reaping parent is missing)."""
    alive = {}
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.pid not in alive and p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive[p.pid] = p
    return list(alive.values())


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if os.getpgid(p.pid) == pgid:
                members.append(p)
    return members


def tree(pid: int) -> list[psutil.Process]:
    """`pid` and all its descendants, or nothing when it is gone."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def run_supervised(
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    *,
    grace_seconds: float = 5.0,
    kill_seconds: float = 2.0,
    label: str = "the process tree",
    cwd: str | None = None,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> int:
    """Run `argv` in a new session; on a stop signal shut it down and return 0, else its exit code.

    A second stop signal skips the grace period. Every process of the tree and of its process group
    is gone when this returns (up to `grace_seconds + kill_seconds` after the first signal).
    """
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)

    # Installing handlers also un-ignores SIGINT when a shell started us with `&`; the child gets the
    # default dispositions back at exec, so Python there raises KeyboardInterrupt on SIGINT again.
    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        preexec = _set_parent_death_signal if sys.platform.startswith("linux") else None
        child = subprocess.Popen(list(argv), env=env, cwd=cwd, start_new_session=True, preexec_fn=preexec)
        pgid = child.pid
        while not received:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.2)
                break
        if not received:  # it ended by itself: stop what it left behind
            _kill(_alive(group_members(pgid)), child)
            return child.returncode
        name = signal.Signals(received[0]).name
        say(f"{name} received: stopping {label} (at most {grace_seconds + kill_seconds:.0f} s)")
        started = time.monotonic()

        def current_tree() -> list[psutil.Process]:
            # Only while unreaped: a reaped child's pid may already belong to someone else.
            return tree(child.pid) if child.poll() is None else []

        known = current_tree()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and len(received) == 1:
            known = _alive(known + current_tree())
            if not known and not _alive(group_members(pgid)):
                break
            time.sleep(0.1)
        left = _alive(known + current_tree() + group_members(pgid))
        if left:
            say(
                f"killing {len(left)} process(es) that did not stop in time "
                f"({time.monotonic() - started:.1f} s): {', '.join(sorted({_name(p) for p in left}))}"
            )
            _kill(left, child, kill_seconds)
        child.wait(timeout=kill_seconds)
        say(f"{label} stopped ({time.monotonic() - started:.1f} s)")
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _name(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline()[1:4])[:60] or p.name()
    except psutil.Error:
        return str(p.pid)


def _kill(processes: list[psutil.Process], child: subprocess.Popen, wait_seconds: float = 2.0) -> None:
    """SIGKILL them all, reap our own child, and wait until the rest are gone (reaped by their parents or init)."""
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        child.poll()
        if not _alive(processes):
            return
        time.sleep(0.02)
