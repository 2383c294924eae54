from ticklake_dagster.defs.run_log import BatchedLog


def test_lines_are_logged_together_at_most_every_interval_and_when_the_step_ends():
    logged, now = [], [0.0]
    with BatchedLog(logged.append, every_s=10, clock=lambda: now[0]) as log:
        log.add("a")
        log.add("b")
        assert logged == []
        now[0] = 10.0
        log.add("c")  # the interval has passed: a, b and c go out as one event
        assert logged == ["a\nb\nc"]
        log.add("d")
    assert logged == ["a\nb\nc", "d"]


def test_a_failing_step_still_logs_the_days_it_finished():
    logged = []
    try:
        with BatchedLog(logged.append) as log:
            log.add("EURUSD 2025-11-13: done")
            raise RuntimeError("the next day failed")
    except RuntimeError:
        pass
    assert logged == ["EURUSD 2025-11-13: done"]
    with BatchedLog(logged.append):
        pass
    assert len(logged) == 1  # nothing gathered, nothing logged
