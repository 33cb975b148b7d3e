"""Quality stage: asset checks that validate deliveries and warn about the client's data."""
