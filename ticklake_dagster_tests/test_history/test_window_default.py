import datetime as dt

from ticklake_dagster.core.settings import default_start_date, start_date


def test_the_daily_window_starts_on_a_month_boundary_about_a_year_back(monkeypatch):
    assert default_start_date(dt.date(2026, 11, 26)) == dt.date(2025, 11, 1)
    assert default_start_date(dt.date(2026, 1, 1)) == dt.date(2025, 1, 1)
    monkeypatch.delenv("TICKLAKE_START_DATE", raising=False)
    assert start_date() == default_start_date(dt.datetime.now(dt.timezone.utc).date()).isoformat()
    monkeypatch.setenv("TICKLAKE_START_DATE", "2024-03-15")
    assert start_date() == "2024-03-15"
