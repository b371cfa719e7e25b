"""Progress output for long steps: what runs, rows, elapsed time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Step:
    """A running step; set ``rows`` or ``detail`` to have them printed when it ends."""

    name: str
    rows: int | None = None
    detail: str = ""
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        """Seconds since the step started."""
        return time.perf_counter() - self.started


def log(message: str) -> None:
    """Print one progress line (stderr stays free for errors; Airflow captures both)."""
    print(f"[tagfactory {time.strftime('%H:%M:%S')}] {message}", file=sys.stdout, flush=True)


@contextmanager
def step(name: str) -> Iterator[Step]:
    """Print ``name ...`` now and ``name: done (rows, seconds)`` or ``FAILED`` at the end."""
    current = Step(name)
    log(f"{name} ...")
    try:
        yield current
    except BaseException:
        log(f"{name}: FAILED after {current.elapsed:.1f}s")
        raise
    parts = []
    if current.rows is not None:
        parts.append(f"{current.rows:,} rows")
    if current.detail:
        parts.append(current.detail)
    parts.append(f"{current.elapsed:.1f}s")
    log(f"{name}: done ({', '.join(parts)})")
