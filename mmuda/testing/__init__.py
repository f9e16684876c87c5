"""Helpers that write stand-ins for what users download (datasets, weights) for smoke runs."""
