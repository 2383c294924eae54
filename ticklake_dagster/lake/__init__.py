"""The lake: storage backends and their configuration, the key layout, part formats, the sensor scan, stats and
costs.
"""
