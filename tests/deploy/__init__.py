"""The deployment tests (`make test-deploy`)."""
