"""All Dagster code: assets, checks, partitions, sensors, schedules, jobs, resources, run planning, alerts, instance."""
