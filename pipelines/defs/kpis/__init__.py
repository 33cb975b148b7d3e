"""KPI stage: the current value of every KPI."""
