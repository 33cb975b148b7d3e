"""Client configuration: the `client.yaml` model and its loader."""
