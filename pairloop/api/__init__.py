"""The pairloop service (FastAPI): Label Studio webhooks and the REST API for ML engineers."""
