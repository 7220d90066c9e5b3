"""Metrics ingester: HTTP batches and scheduled sources written to the LeanIX Metrics API."""
