"""Spark side of the factory: read sources, run the compiled manifest, publish Delta snapshots."""
