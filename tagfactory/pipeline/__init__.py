"""Spark side of the factory: read sources, run the compiled plan, publish Delta snapshots."""
