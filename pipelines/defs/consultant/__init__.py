"""The consultant's own view: the morning digest of what needs them across every client."""
