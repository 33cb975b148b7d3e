"""Delivery stage: the report email, sent once the consultant approves it (or automatically)."""
