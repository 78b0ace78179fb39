"""Simulated regional backends (FastAPI) with injectable faults."""
