"""Ingestion: client files in, canonical long-format observations (with lineage) out."""
