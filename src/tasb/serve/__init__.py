"""The search service: ``tasb serve`` (FastAPI app, micro-batching, the search page)."""
