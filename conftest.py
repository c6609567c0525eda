"""Root conftest: intentionally empty. The checks' fixtures come from the `synthetics` plugin."""
