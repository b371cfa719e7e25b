"""Writing sources as Hive-style parquet folders, staged and swapped into place."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tagfactory.demo._arrow import Lookups, Rows, build_table, row_count
from tagfactory.demo._schema import SourceLayout

DAY_US = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)
#: A partition with more rows than this is split into several files.
MAX_ROWS_PER_FILE = 2_000_000
#: Writer threads (numpy, Arrow and parquet release the GIL for the heavy parts).
WORKERS = min(4, os.cpu_count() or 1)


def _write_files(table: pa.Table, layout: SourceLayout, folder: Path, max_rows: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n_files = max(1, -(-table.num_rows // max_rows))
    step = -(-table.num_rows // n_files) if table.num_rows else 0
    dictionary = [c.name for c in layout.columns if c.dictionary_encoded]
    for part in range(n_files):
        chunk = table.slice(part * step, step) if step else table
        pq.write_table(chunk, folder / f"part-{part:05d}.parquet", compression="snappy",
                       use_dictionary=dictionary)


def write_source(
    root: Path, layout: SourceLayout, rows: Rows, lookups: Lookups,
    max_rows_per_file: int = MAX_ROWS_PER_FILE, workers: int = WORKERS,
) -> int:
    """Write one source below ``root / layout.name``.

    Partitioned sources get one ``dt=YYYY-MM-DD`` folder per UTC date of the time column, with
    rows sorted by time inside it (ties keep their generation order); ``rowid`` columns are
    numbered from 1 in that output order. Unpartitioned sources keep the row order. Partitions
    are encoded and written by a few threads; the output does not depend on their number.

    Args:
        root: Staging folder holding all sources of this run.
        layout: Source layout.
        rows: All rows in compact form.
        lookups: String tables for ``lookup`` columns.
        max_rows_per_file: Split folders with more rows than this into several files.
        workers: Number of writer threads.

    Returns:
        The number of rows written.
    """
    target = root / layout.name
    n = row_count(rows)
    if layout.partitioned and n == 0:
        target.mkdir(parents=True, exist_ok=True)
        return 0
    if not layout.partitioned:
        table = build_table(layout, rows, np.arange(n), lookups, first_rowid=1)
        _write_files(table, layout, target, max_rows_per_file)
        return n
    ts = rows[layout.time_column]
    day = ts // DAY_US
    first_day = int(day.min())
    rel = day - first_day
    # Radix sort on a 16-bit key is linear; then sort each (small) partition by time.
    order = np.argsort(rel.astype(np.uint16) if rel.max() < 2**16 else rel, kind="stable")
    counts = np.bincount(rel)
    bounds = np.concatenate([[0], np.cumsum(counts)])

    def write_partition(offset: int) -> None:
        index = order[bounds[offset]: bounds[offset + 1]]
        index = index[np.argsort(ts[index], kind="stable")]
        table = build_table(layout, rows, index, lookups, first_rowid=1 + int(bounds[offset]))
        date = EPOCH + dt.timedelta(days=first_day + offset)
        _write_files(table, layout, target / f"dt={date.isoformat()}", max_rows_per_file)

    target.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(write_partition, np.flatnonzero(counts).tolist()):
            pass
    return n


def new_staging_dir(out_dir: Path) -> Path:
    """Create a hidden staging folder inside ``out_dir`` (same filesystem, so renames are atomic).

    Hidden (dot) folders are ignored by Spark and Hive-style readers.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def swap_into_place(staging: Path, out_dir: Path, names: Iterable[str]) -> None:
    """Replace ``out_dir/<name>`` by ``staging/<name>`` for every source.

    The old folder is renamed away before the new one is renamed in, then deleted, so a reader
    sees either the complete old or the complete new dataset of each source.
    """
    for name in names:
        target = out_dir / name
        trash = None
        if target.exists() or target.is_symlink():
            trash = out_dir / f".old-{name}-{uuid.uuid4().hex[:12]}"
            os.replace(target, trash)
        os.replace(staging / name, target)
        if trash is not None:
            if trash.is_dir() and not trash.is_symlink():
                shutil.rmtree(trash)
            else:
                trash.unlink()
