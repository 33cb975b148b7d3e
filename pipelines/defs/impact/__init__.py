"""Impact stage: did each KPI change after go-live, and how sure are we."""
