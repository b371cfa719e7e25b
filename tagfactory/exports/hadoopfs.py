"""The Hadoop FileSystem calls a file drop needs, through Spark's JVM (docs/exports.md, "File drops").

One code path for local paths (``file://``), ``hdfs://`` and ``s3a://`` (by configuration): the
calls go to ``org.apache.hadoop.fs.FileSystem`` of the session's Hadoop configuration, so a
cluster's file systems, credentials and settings apply. Every failure, including a rename or a
delete the file system answers with ``false``, raises :class:`~tagfactory.errors.ExportError`
naming the path and what to check. Byte helpers are for small files (manifests, markers);
:meth:`DropFs.sha256` streams a file through a JVM ``MessageDigest``: no data crosses into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagfactory.errors import ExportError
from tagfactory.lakehouse.paths import TableLocation

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

HINT = "check that the location exists, is writable by this job and that the file system is configured"
OBJECT_STORES = frozenset({"s3a", "s3", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cos"})
SMALL_FILE_LIMIT = 16 * 1024 * 1024  # read_bytes refuses more: it is for manifests and markers


@dataclass(frozen=True)
class Entry:
    """One entry of a folder listing: its URI, name, whether it is a folder, size and mtime (ms)."""

    uri: str
    name: str
    is_dir: bool
    length: int
    modified_ms: int


def normalize(uri: str) -> str:
    """A drop location as Hadoop sees it: local paths become ``file:///abs``; no trailing ``/``."""
    return TableLocation.parse(uri).spark_uri


class DropFs:
    """A typed wrapper over ``org.apache.hadoop.fs.FileSystem`` for one file system (one root)."""

    def __init__(self, spark: SparkSession, root_uri: str) -> None:
        self.jvm: Any = spark._jvm  # type: ignore[attr-defined]
        self.conf: Any = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        self.gateway: Any = spark.sparkContext._gateway  # type: ignore[attr-defined]
        self.root = normalize(root_uri)
        try:
            self._fs: Any = self.path(self.root).getFileSystem(self.conf)
        except Exception as exc:  # py4j errors carry the Java exception text
            raise _error("open the file system of", self.root, exc) from exc

    @property
    def scheme(self) -> str:
        """The file system's scheme (``file``, ``hdfs``, ``s3a`` ...)."""
        return str(self._fs.getScheme())

    def path(self, uri: str) -> Any:
        """An ``org.apache.hadoop.fs.Path`` for ``uri``."""
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def exists(self, uri: str) -> bool:
        """Whether ``uri`` exists."""
        try:
            return bool(self._fs.exists(self.path(uri)))
        except Exception as exc:
            raise _error("check", uri, exc) from exc

    def list(self, uri: str) -> list[Entry]:
        """The immediate entries of folder ``uri`` sorted by name (empty when it does not exist)."""
        try:
            if not self._fs.exists(self.path(uri)):
                return []
            statuses = self._fs.listStatus(self.path(uri))
            entries = [Entry(f"{uri.rstrip('/')}/{s.getPath().getName()}", str(s.getPath().getName()),
                             bool(s.isDirectory()), int(s.getLen()), int(s.getModificationTime()))
                       for s in statuses]
        except Exception as exc:
            raise _error("list", uri, exc) from exc
        return sorted(entries, key=lambda e: e.name)

    def mkdirs(self, uri: str) -> None:
        """Create folder ``uri`` and its parents (an existing folder is fine)."""
        try:
            made = bool(self._fs.mkdirs(self.path(uri)))
        except Exception as exc:
            raise _error("create folder", uri, exc) from exc
        if not made:
            raise ExportError(f"cannot create folder {uri}: the file system refused; {HINT}")

    def rename(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` (which must not exist); the parent must exist.

        Hadoop's ``rename`` answers ``false`` instead of raising for most refusals (target exists,
        source missing, parent missing): that answer is an error here too.
        """
        try:
            if self._fs.exists(self.path(target)):
                raise ExportError(f"cannot rename {source} to {target}: the target exists")
            moved = bool(self._fs.rename(self.path(source), self.path(target)))
        except ExportError:
            raise
        except Exception as exc:
            raise _error(f"rename {source} to", target, exc) from exc
        if not moved:
            raise ExportError(f"cannot rename {source} to {target}: the file system refused; {HINT}")

    def delete(self, uri: str, recursive: bool = True) -> bool:
        """Delete a file or folder; False when it did not exist.

        Raises:
            ExportError: it exists and the file system did not delete it.
        """
        try:
            if not self._fs.exists(self.path(uri)):
                return False
            deleted = bool(self._fs.delete(self.path(uri), recursive))
        except Exception as exc:
            raise _error("delete", uri, exc) from exc
        if not deleted:
            raise ExportError(f"cannot delete {uri}: the file system refused; {HINT}")
        return True

    def write_bytes(self, uri: str, data: bytes, overwrite: bool = False) -> None:
        """Write a small file in one go (``overwrite=False``: an existing file is an error)."""
        try:
            stream = self._fs.create(self.path(uri), overwrite)
            try:
                stream.write(bytearray(data))
            finally:
                stream.close()
        except Exception as exc:
            raise _error("write", uri, exc) from exc

    def replace_bytes(self, uri: str, data: bytes, temp_name: str) -> None:
        """Replace a small file atomically: a reader sees the old or the new bytes, never a gap.

        Object stores (``s3a``, ``gs``, ``abfs`` ...) publish an object only when it is closed:
        written in place. Other file systems: written to ``temp_name`` next to it, then renamed
        over it (local: POSIX ``rename``; HDFS: ``rename`` with ``OVERWRITE``, both atomic).
        """
        if self.scheme in OBJECT_STORES:
            self.write_bytes(uri, data, overwrite=True)
            return
        temp = f"{uri.rsplit('/', 1)[0]}/{temp_name}"
        self.delete(temp, recursive=False)
        self.write_bytes(temp, data)
        self.replace(temp, uri)

    def replace(self, source: str, target: str) -> None:
        """Rename file ``source`` over file ``target`` (atomic on local file systems and HDFS).

        Local: POSIX ``rename`` of the raw file system (Hadoop's checksummed local file system
        refuses to overwrite); the checksum files go first, so no reader meets a stale one.
        Others: ``FileContext.rename`` with ``OVERWRITE`` (one NameNode operation on HDFS).
        """
        try:
            src, dst = self.path(source), self.path(target)
            if self.scheme == "file" and hasattr(self._fs, "getRawFileSystem"):
                for crc in (self._fs.getChecksumFile(dst), self._fs.getChecksumFile(src)):
                    self._fs.getRawFileSystem().delete(crc, False)
                moved = bool(self._fs.getRawFileSystem().rename(src, dst))
            else:
                rename = self.jvm.org.apache.hadoop.fs.Options.Rename
                options = self.gateway.new_array(rename, 1)
                options[0] = rename.OVERWRITE
                context = self.jvm.org.apache.hadoop.fs.FileContext.getFileContext(self._fs.getUri(), self.conf)
                context.rename(src, dst, options)
                moved = True
        except Exception as exc:
            raise _error(f"replace {target} by", source, exc) from exc
        if not moved:
            raise ExportError(f"cannot replace {target} by {source}: the file system refused; {HINT}")

    def upload(self, local_path: str, uri: str) -> None:
        """Copy a local file to ``uri`` (which must not exist), streamed by Hadoop's ``copyFromLocalFile``."""
        try:
            if self._fs.exists(self.path(uri)):
                raise ExportError(f"cannot upload {local_path} to {uri}: the target exists")
            self._fs.copyFromLocalFile(False, False, self.path(f"file://{local_path}"), self.path(uri))
        except ExportError:
            raise
        except Exception as exc:
            raise _error(f"upload {local_path} to", uri, exc) from exc

    def read_bytes(self, uri: str) -> bytes:
        """Read a small file (at most :data:`SMALL_FILE_LIMIT` bytes)."""
        try:
            path = self.path(uri)
            length = int(self._fs.getFileStatus(path).getLen())
            if length > SMALL_FILE_LIMIT:
                raise ExportError(f"{uri} has {length:,} bytes: too large for a marker or manifest")
            stream = self._fs.open(path)
            try:
                buffer = self.jvm.java.io.ByteArrayOutputStream()
                self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buffer, 65536, False)
                return bytes(buffer.toByteArray())
            finally:
                stream.close()
        except ExportError:
            raise
        except Exception as exc:
            raise _error("read", uri, exc) from exc

    def read_text(self, uri: str) -> str | None:
        """A small UTF-8 file's text, or None when it does not exist."""
        return self.read_bytes(uri).decode("utf-8") if self.exists(uri) else None

    def length(self, uri: str) -> int:
        """Bytes of file ``uri``."""
        try:
            return int(self._fs.getFileStatus(self.path(uri)).getLen())
        except Exception as exc:
            raise _error("stat", uri, exc) from exc

    def sha256(self, uri: str) -> str:
        """SHA-256 (lowercase hex) of file ``uri``, streamed through the JVM (no bytes to Python)."""
        try:
            digest = self.jvm.java.security.MessageDigest.getInstance("SHA-256")
            stream = self.jvm.java.security.DigestInputStream(self._fs.open(self.path(uri)), digest)
            try:
                sink = self.jvm.java.io.OutputStream.nullOutputStream()
                self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, sink, 1 << 20, False)
            finally:
                stream.close()
            return bytes(digest.digest()).hex()
        except Exception as exc:
            raise _error("checksum", uri, exc) from exc

    def concat(self, target: str, head: bytes, sources: Sequence[str]) -> int:
        """Write file ``target`` (must not exist): ``head``, then the bytes of ``sources`` in order.

        The bytes are copied inside the JVM (none cross into Python). Returns the bytes written;
        raises unless the file's length is ``len(head)`` plus the sources' lengths.
        """
        try:
            expected = len(head) + sum(int(self._fs.getFileStatus(self.path(s)).getLen()) for s in sources)
            out = self._fs.create(self.path(target), False)
            try:
                if head:
                    out.write(bytearray(head))
                for source in sources:
                    stream = self._fs.open(self.path(source))
                    try:
                        self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, out, 1 << 20, False)
                    finally:
                        stream.close()
            finally:
                out.close()
        except Exception as exc:
            raise _error("assemble", target, exc) from exc
        written = self.length(target)
        if written != expected:
            raise ExportError(f"cannot assemble {target}: {written:,} bytes written, {expected:,} expected")
        return written

    def parquet_rows(self, uri: str) -> int:
        """Rows of a Parquet file, from its footer only."""
        try:
            parquet = self.jvm.org.apache.parquet.hadoop
            reader = parquet.ParquetFileReader.open(
                parquet.util.HadoopInputFile.fromPath(self.path(uri), self.conf))
            try:
                return int(reader.getRecordCount())
            finally:
                reader.close()
        except Exception as exc:
            raise _error("read the Parquet footer of", uri, exc) from exc


def java_message(exc: BaseException) -> str:
    """The telling line of a (py4j) exception: the Java exception's, not "An error occurred ..."."""
    detail = str(exc).strip().splitlines()
    first = next((line for line in detail if "Exception" in line), detail[0] if detail else type(exc).__name__)
    return first.strip()


def _error(action: str, uri: str, exc: Exception) -> ExportError:
    return ExportError(f"cannot {action} {uri}: {java_message(exc)}; {HINT}")
