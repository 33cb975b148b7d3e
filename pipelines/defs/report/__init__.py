"""Report stage: the charts and the client report (PDF, email body)."""
