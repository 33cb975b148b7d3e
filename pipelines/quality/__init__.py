"""Data quality: Great Expectations suites built from the catalogue, delivery quarantine."""
