"""Independent pandas oracle for the shipped tag catalogue (see pandas_oracle.py)."""
