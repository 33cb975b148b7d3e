"""Benchmarks of Cap's ingestion against the floors of its readers (`make bench`)."""
