"""Partitions: one dynamic partition per client folder, keyed by the client's slug."""

import dagster as dg

clients_partitions = dg.DynamicPartitionsDefinition(name="clients")

PARTITION_TAG = "dagster/partition"
"""The run tag holding the partition: the client's slug on every run of a client."""
