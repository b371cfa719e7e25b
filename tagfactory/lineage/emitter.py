"""The lineage emitter: sends START, then COMPLETE / FAIL / ABORT events around a job run.

Lineage never breaks a job: a transport that cannot be configured turns lineage off for the
process (with a warning), and an event that cannot be sent is logged as a warning and dropped.
An emitter built with ``client=None`` (or ``from_config(enabled=False)``) emits nothing at all.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from openlineage.client.client import OpenLineageClient
from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.facet_v2 import JobFacet, RunFacet
from openlineage.client.transport import Transport, get_default_factory
from openlineage.client.transport.file import FileTransport

from tagfactory.errors import ConfigError

from .events import (
    DEFAULT_PRODUCER,
    DatasetRef,
    ParentRun,
    RunSpec,
    as_run_id,
    build_run_event,
)

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "tagfactory"
"""Job namespace of every tag factory job."""

# Environment variables by which the OpenLineage client configures itself.
_ENV_EXACT = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")
_ENV_PREFIX = "OPENLINEAGE__TRANSPORT"


def configured_by_environment(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether the environment configures an OpenLineage transport.

    Args:
        environ: Environment to look at; ``os.environ`` by default.

    Returns:
        True if ``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` or any ``OPENLINEAGE__TRANSPORT*``
        variable is set to a non-empty value.
    """
    env = os.environ if environ is None else environ
    return any(env.get(k) for k in _ENV_EXACT) or any(
        k.startswith(_ENV_PREFIX) and v for k, v in env.items()
    )


def _disabled_by_environment() -> bool:
    # The OpenLineage client's own kill switch; honoured for explicit transports too.
    return os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


class RunHandle:
    """What a job sees of its run while it runs: the run id and datasets it may update.

    Attributes:
        run_id: UUID of the run, shared by all its events; pass it on to child runs.
        job_name: Name of the job.
    """

    def __init__(
        self,
        run_id: str,
        job_name: str,
        inputs: Sequence[DatasetRef],
        outputs: Sequence[DatasetRef],
    ) -> None:
        self.run_id = run_id
        self.job_name = job_name
        self._inputs = tuple(inputs)
        self._outputs = tuple(outputs)
        self._run_facets: dict[str, RunFacet] = {}

    @property
    def inputs(self) -> tuple[DatasetRef, ...]:
        """Datasets the run reads, as the final event will report them."""
        return self._inputs

    @property
    def outputs(self) -> tuple[DatasetRef, ...]:
        """Datasets the run writes, as the final event will report them."""
        return self._outputs

    @property
    def run_facets(self) -> Mapping[str, RunFacet]:
        """Run facets added during the run, sent with the final event."""
        return dict(self._run_facets)

    def set_inputs(self, inputs: Sequence[DatasetRef]) -> None:
        """Replace the inputs reported by the final event (e.g. with row counts read).

        Args:
            inputs: The datasets read.
        """
        self._inputs = tuple(inputs)

    def set_outputs(self, outputs: Sequence[DatasetRef]) -> None:
        """Replace the outputs reported by the final event (e.g. with row counts written).

        Args:
            outputs: The datasets written, e.g. ``[ref.with_stats(row_count=n, version=v)]``.
        """
        self._outputs = tuple(outputs)

    def add_run_facet(self, name: str, facet: RunFacet) -> None:
        """Add a run facet to the final event.

        Args:
            name: Facet name, e.g. ``"dataQualityMetrics"`` or a ``tagfactory_``-prefixed one.
            facet: The facet.
        """
        self._run_facets[name] = facet


class LineageEmitter:
    """Emits OpenLineage run events for tag factory jobs.

    Args:
        client: A configured ``OpenLineageClient``; ``None`` for an emitter that does nothing.
        namespace: Job namespace.
        producer: Producer URI written into events and facets.
    """

    def __init__(
        self,
        client: OpenLineageClient | None,
        namespace: str = DEFAULT_NAMESPACE,
        producer: str = DEFAULT_PRODUCER,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.producer = producer
        self.parent: ParentRun | None = None
        self._run_facets: dict[str, RunFacet] = {}
        self._job_facets: dict[str, JobFacet] = {}

    def with_defaults(
        self,
        *,
        parent: ParentRun | None = None,
        run_facets: Mapping[str, RunFacet] | None = None,
        job_facets: Mapping[str, JobFacet] | None = None,
    ) -> LineageEmitter:
        """Return an emitter on the same transport whose runs get these unless a run sets its own.

        A job sets them once (the Airflow parent run, ``processing_engine``, ``jobType``) and every
        run it starts inherits them.

        Args:
            parent: Parent of every run (``ParentRun.parse(lineage_parent_id, root_parent_id)``).
            run_facets: Run facets of every run (a run's own facets win).
            job_facets: Job facets of every run (a run's own facets win).

        Returns:
            The new emitter; this one is unchanged.
        """
        other = copy.copy(self)
        other.parent = parent if parent is not None else self.parent
        other._run_facets = {**self._run_facets, **(run_facets or {})}
        other._job_facets = {**self._job_facets, **(job_facets or {})}
        return other

    @property
    def enabled(self) -> bool:
        """True if this emitter sends events."""
        return self._client is not None

    @classmethod
    def disabled(cls, namespace: str = DEFAULT_NAMESPACE) -> LineageEmitter:
        """Return an emitter that emits nothing and never fails."""
        return cls(None, namespace)

    @classmethod
    def from_config(
        cls,
        enabled: bool = True,
        transport: Mapping[str, Any] | None = None,
        default_file: str | os.PathLike[str] | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        producer: str = DEFAULT_PRODUCER,
    ) -> LineageEmitter:
        """Build an emitter from settings, falling back to the environment, then to a file.

        Resolution order:

        1. ``enabled=False`` or ``OPENLINEAGE_DISABLED=true``: an emitter that does nothing.
        2. ``transport``: the ``transport:`` section of an ``openlineage.yml`` as a dict, e.g.
           ``{"type": "file", "log_file_path": "...", "append": True}`` or
           ``{"type": "http", "url": "http://marquez:5000"}``.
        3. ``OPENLINEAGE__TRANSPORT__*``, ``OPENLINEAGE_URL`` or ``OPENLINEAGE_CONFIG`` set:
           the OpenLineage client configures itself from the environment.
        4. ``default_file``: one JSON event per line appended to that file.
        5. Otherwise the client's own default: ``./openlineage.yml``,
           ``~/.openlineage/openlineage.yml``, else events printed to the console log.

        Parent directories of a local file transport are created. A transport that cannot be
        built is logged as a warning and gives an emitter that does nothing.

        Args:
            enabled: False turns lineage off.
            transport: Explicit transport configuration.
            default_file: JSON-lines file used when nothing else is configured.
            namespace: Job namespace.
            producer: Producer URI.

        Returns:
            The emitter.
        """
        if not enabled or _disabled_by_environment():
            return cls(None, namespace, producer)
        try:
            client = _build_client(transport, default_file)
        except Exception as exc:  # lineage must never stop the job
            log.warning(
                "OpenLineage is off for this process: its transport could not be configured "
                "(%s: %s). Check the lineage transport settings or OPENLINEAGE__* variables.",
                type(exc).__name__,
                exc,
            )
            return cls(None, namespace, producer)
        return cls(client, namespace, producer)

    def emit(self, event: RunEvent) -> bool:
        """Send one event; never raises.

        Args:
            event: The event.

        Returns:
            True if the transport accepted it; False if lineage is off or sending failed.
        """
        if self._client is None:
            return False
        try:
            self._client.emit(event)
        except Exception as exc:
            log.warning(
                "OpenLineage %s event for job %s (run %s) was not sent: %s: %s",
                getattr(event.eventType, "value", event.eventType),
                event.job.name,
                event.run.runId,
                type(exc).__name__,
                exc,
            )
            return False
        return True

    @contextmanager
    def run(
        self,
        job_name: str,
        inputs: Sequence[DatasetRef],
        outputs: Sequence[DatasetRef] = (),
        *,
        run_id: str | None = None,
        parent: ParentRun | None = None,
        parameters: Mapping[str, object] | None = None,
        nominal_time: date | datetime | None = None,
        sql: str | None = None,
        run_facets: Mapping[str, RunFacet] | None = None,
        job_facets: Mapping[str, JobFacet] | None = None,
    ) -> Iterator[RunHandle]:
        """Wrap one job run in START and COMPLETE / FAIL / ABORT events.

        START is sent on entry. On normal exit (or ``sys.exit(0)``) COMPLETE is sent with the
        handle's current inputs and outputs. On an exception FAIL is sent with an
        ``errorMessage`` facet (message, ``python``, stack trace) and the exception is
        re-raised; ``KeyboardInterrupt`` and the like give ABORT. Sending problems are only
        logged.

        Args:
            job_name: Job name, e.g. ``profile_build.daily``.
            inputs: Datasets read.
            outputs: Datasets written (update them through the handle when counts are known).
            run_id: Run UUID; a non-UUID string (an Airflow run id) is mapped to a stable UUID;
                a new one by default.
            parent: The run that started this one, e.g. ``ParentRun.parse(lineage_parent_id)``.
            parameters: Run parameters, e.g. ``{"snapshot_date": date(2026, 1, 1)}``.
            nominal_time: The date or time the run is for.
            sql: SQL the job runs, recorded as a ``sql`` job facet.
            run_facets: Extra run facets for every event of the run.
            job_facets: Extra job facets for every event of the run.

        Yields:
            The run handle.
        """
        spec = RunSpec(
            job_namespace=self.namespace,
            job_name=job_name,
            run_id=as_run_id(run_id, scope=f"{self.namespace}/{job_name}"),
            parent=parent or self.parent,
            parameters=dict(parameters or {}),
            nominal_time=nominal_time,
            sql=sql,
            run_facets={**self._run_facets, **(run_facets or {})},
            job_facets={**self._job_facets, **(job_facets or {})},
        )
        handle = RunHandle(spec.run_id, job_name, inputs, outputs)
        self._send(spec, RunState.START, handle)
        try:
            yield handle
        except SystemExit as exc:
            failed = exc.code not in (None, 0)
            self._send(
                spec,
                RunState.FAIL if failed else RunState.COMPLETE,
                handle,
                exc if failed else None,
            )
            raise
        except Exception as exc:
            self._send(spec, RunState.FAIL, handle, exc)
            raise
        except BaseException as exc:
            self._send(spec, RunState.ABORT, handle, exc)
            raise
        self._send(spec, RunState.COMPLETE, handle)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush and close the transport (matters for asynchronous transports); never raises.

        Args:
            timeout: Seconds to wait for queued events.

        Returns:
            True if every queued event was sent (always True when lineage is off).
        """
        if self._client is None:
            return True
        try:
            return bool(self._client.close(timeout))
        except Exception as exc:
            log.warning("Closing the OpenLineage transport failed: %s: %s", type(exc).__name__, exc)
            return False

    def _send(
        self, spec: RunSpec, state: RunState, handle: RunHandle, error: BaseException | None = None
    ) -> None:
        if self._client is None:
            return
        if handle.run_facets:
            spec = replace(spec, run_facets={**spec.run_facets, **handle.run_facets})
        try:
            event = build_run_event(
                spec, state, handle.inputs, handle.outputs, error=error, producer=self.producer
            )
        except Exception as exc:
            log.warning(
                "OpenLineage %s event for job %s could not be built: %s: %s",
                state.value,
                spec.job_name,
                type(exc).__name__,
                exc,
            )
            return
        self.emit(event)


def _build_client(
    transport: Mapping[str, Any] | None, default_file: str | os.PathLike[str] | None
) -> OpenLineageClient:
    if transport is not None:
        return _client_with_transport(_kept_in_file(transport, default_file))
    if configured_by_environment():
        client = OpenLineageClient()
        _create_parent_dirs(client.transport)
        return client
    if default_file is not None:
        return _client_with_transport(
            {"type": "file", "log_file_path": os.fspath(default_file), "append": True}
        )
    return OpenLineageClient()


def _kept_in_file(config: Mapping[str, Any], default_file: str | os.PathLike[str] | None) -> Mapping[str, Any]:
    """An HTTP / console / Kafka transport also writes every event to ``default_file``, first.

    Composite transport, continuing on failure: a dead endpoint is a warning and the event is
    still in the file (lineage never fails a job, and no event is lost).
    """
    kind = str(config.get("type") or "")
    if default_file is None or kind in ("", "file", "composite"):
        return config
    return {"type": "composite", "continue_on_failure": True, "continue_on_success": True,
            "transports": [{"type": "file", "log_file_path": os.fspath(default_file), "append": True,
                            "name": "file"}, {**config, "name": kind}]}


def _client_with_transport(config: Mapping[str, Any]) -> OpenLineageClient:
    if not config.get("type"):
        raise ConfigError(
            f"transport settings need a 'type' (file, http, kafka, console, ...), got {dict(config)!r}"
        )
    # The factory pops keys ("name", "priority") from the dict it is given: hand it a copy.
    built = get_default_factory().create(copy.deepcopy(dict(config)))
    _create_parent_dirs(built)
    # Passing the transport object (not config=...) keeps OPENLINEAGE__TRANSPORT__* variables from
    # being deep-merged into the explicit settings.
    return OpenLineageClient(transport=built)


def _create_parent_dirs(transport: Transport) -> None:
    if isinstance(transport, FileTransport):
        path = transport.config.log_file_path
        scheme = urlsplit(path).scheme
        if scheme == "file":
            path = unquote(urlsplit(path).path)
        elif "://" in path:
            return  # remote file systems (fsspec) manage their own folders
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    for child in getattr(transport, "transports", None) or ():
        _create_parent_dirs(child)
