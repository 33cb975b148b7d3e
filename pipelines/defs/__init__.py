"""Dagster-facing code: assets, checks, schedules, sensors and resources. Kept thin: each
function calls the plain Python modules beside this package."""
