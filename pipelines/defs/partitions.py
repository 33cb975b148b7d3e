"""Partitions: one dynamic partition per client folder, keyed by the client's slug."""

import dagster as dg

clients_partitions = dg.DynamicPartitionsDefinition(name="clients")
