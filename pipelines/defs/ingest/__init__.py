"""Ingestion stage: the client's files archived, parsed and stored with their lineage."""
