"""The client report: charts, PDF, HTML email body."""
