"""Lakehouse Tag Factory: tags as config -> Spark SQL -> Delta snapshots."""
__version__ = "0.1.0"
