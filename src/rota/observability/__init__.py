"""Logs (and later metrics and spans) from what the worker and store report."""
