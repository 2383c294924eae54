"""Dukascopy history import: both public tick feeds decoded with numpy into one raw part per symbol-day."""
