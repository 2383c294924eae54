"""Ticks: the validity rules and the compaction of a day's raw parts into one file."""
