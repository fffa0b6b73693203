"""Shoal node: the server side of Shoal (store, task runtime, parser, API, cluster)."""
__version__ = "0.1.0"
