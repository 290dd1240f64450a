"""The benchmark harness: prepare, measure, ingest, analyze, plot, report."""

__version__ = "0.1.0"
