"""Before/after impact analysis: the statistics, the client's series, the sentences."""
