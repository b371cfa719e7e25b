"""Data-quality gates: Great Expectations suites, results and Data Docs."""
