"""Data-quality gates: Great Expectations suites, results and Data Docs."""

import os

# Great Expectations reads this when it starts; set it before any submodule imports GX. The
# caller's environment wins.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
