"""Table locations as Spark and delta-rs see them, and a thin Hadoop FileSystem wrapper.

Spark (Hadoop) and delta-rs spell the same location differently:

========================  ==============================  ==========================
given                     Spark / Hadoop FileSystem       delta-rs
========================  ==============================  ==========================
``/data/t`` or ``data/t``  ``file:///abs/data/t``          ``/abs/data/t``
``file:///data/t``        ``file:///data/t``              ``/data/t``
``s3a://bucket/t``        ``s3a://bucket/t``              ``s3://bucket/t``
``hdfs://nn/t`` etc.      unchanged                       unchanged
========================  ==============================  ==========================

A path without a scheme always means the local file system, even on a cluster whose default
file system is HDFS: delta-rs and Spark must agree on where the table is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Hadoop's s3a connector and delta-rs's object store name the same S3 location differently.
_SPARK_TO_DELTA_SCHEME = {"s3a": "s3"}


@dataclass(frozen=True)
class TableLocation:
    """One table location, spelled for Spark and for delta-rs.

    Attributes:
        spark_uri: URI for Spark readers/writers and the Hadoop FileSystem API (no trailing slash).
        delta_uri: URI (or plain local path) for delta-rs (no trailing slash).
    """

    spark_uri: str
    delta_uri: str

    @classmethod
    def parse(cls, uri: str) -> TableLocation:
        """Build a location from a user-given path or URI (see the module table)."""
        parts = urlsplit(uri)
        if parts.scheme in ("", "file"):
            local = os.path.abspath(parts.path if parts.scheme == "file" else uri).rstrip("/")
            return cls(spark_uri="file://" + local, delta_uri=local)
        spark_uri = uri.rstrip("/")
        scheme = _SPARK_TO_DELTA_SCHEME.get(parts.scheme)
        delta_uri = f"{scheme}:{spark_uri.split(':', 1)[1]}" if scheme else spark_uri
        return cls(spark_uri=spark_uri, delta_uri=delta_uri)

    def spark_child(self, relative: str) -> str:
        """Spark URI of a path relative to the table root."""
        return f"{self.spark_uri}/{relative.lstrip('/')}"

    def spark_file_uri(self, delta_file_uri: str) -> str:
        """Translate a data file URI from delta-rs (``DeltaTable.file_uris()``) for Spark."""
        root = self.delta_uri + "/"
        if delta_file_uri.startswith(root):
            return self.spark_child(delta_file_uri[len(root) :])
        return TableLocation.parse(delta_file_uri).spark_uri


@dataclass(frozen=True)
class FileInfo:
    """A file found by :meth:`HadoopFs.list_files`."""

    uri: str
    size: int
    modification_time: int


class HadoopFs:
    """The few Hadoop FileSystem calls the lakehouse needs, through Spark's JVM.

    Going through Hadoop keeps ``file://``, ``hdfs://`` and ``s3a://`` on one code path and uses
    the cluster's configured credentials.
    """

    def __init__(self, spark: SparkSession, uri: str) -> None:
        """Bind to the file system that serves ``uri``."""
        self.jvm: Any = spark._jvm  # type: ignore[attr-defined]
        self.conf: Any = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        self._fs: Any = self.path(uri).getFileSystem(self.conf)

    def path(self, uri: str) -> Any:
        """A ``org.apache.hadoop.fs.Path`` for ``uri``."""
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def qualify(self, uri: str) -> str:
        """Fully qualified form of ``uri``, as file listings spell it (``file:/x`` for local)."""
        return str(self._fs.makeQualified(self.path(uri)).toString())

    def exists(self, uri: str) -> bool:
        """Whether ``uri`` exists."""
        return bool(self._fs.exists(self.path(uri)))

    def list_files(self, uri: str) -> list[FileInfo]:
        """All files below ``uri`` (recursively), skipping names that start with ``_`` or ``.``.

        Returns an empty list when ``uri`` does not exist.
        """
        if not self.exists(uri):
            return []
        found = []
        listing = self._fs.listFiles(self.path(uri), True)
        while listing.hasNext():
            status = listing.next()
            path = status.getPath()
            if path.getName().startswith(("_", ".")):
                continue
            found.append(
                FileInfo(
                    str(path.toString()), int(status.getLen()), int(status.getModificationTime())
                )
            )
        return found

    def rename(self, source: str, target: str) -> None:
        """Move a file, creating the target's parent folders.

        Raises:
            OSError: when the file system refuses the rename (e.g. the target exists).
        """
        target_path = self.path(target)
        self._fs.mkdirs(target_path.getParent())
        if not self._fs.rename(self.path(source), target_path):
            raise OSError(f"could not rename {source} to {target}")

    def delete(self, uri: str) -> None:
        """Delete a file or a folder with its contents; a missing path is not an error."""
        self._fs.delete(self.path(uri), True)

    def write_text(self, uri: str, text: str) -> None:
        """Write a small UTF-8 file (replacing it): written to a hidden name, then renamed."""
        target = self.path(uri)
        tmp = self.path(uri.rsplit("/", 1)[0] + "/." + uri.rsplit("/", 1)[1] + ".tmp")
        stream = self._fs.create(tmp, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        if self._fs.exists(target):
            self._fs.delete(target, False)
        if not self._fs.rename(tmp, target):
            raise OSError(f"could not write {uri}")

    def read_text(self, uri: str) -> str:
        """Read a small UTF-8 file.

        Raises:
            FileNotFoundError: when ``uri`` does not exist.
        """
        path = self.path(uri)
        if not self._fs.exists(path):
            raise FileNotFoundError(uri)
        stream = self._fs.open(path)
        try:
            chunks = []
            buffer = self.jvm.java.io.ByteArrayOutputStream()
            self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buffer, 65536, False)
            chunks.append(bytes(buffer.toByteArray()))
        finally:
            stream.close()
        return b"".join(chunks).decode("utf-8")

    def list_dirs(self, uri: str) -> list[FileInfo]:
        """Immediate sub-folders of ``uri`` (empty when it does not exist)."""
        if not self.exists(uri):
            return []
        return [FileInfo(str(s.getPath().toString()), 0, int(s.getModificationTime()))
                for s in self._fs.listStatus(self.path(uri)) if s.isDirectory()]
