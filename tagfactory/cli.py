"""The ``tagfactory`` command line.

Commands that only read definitions (``validate``, ``compile``) import no Spark: they run in
seconds on a laptop or in a pull-request check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tagfactory import __version__
from tagfactory.errors import TagFactoryError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def job_arguments(parser: argparse.ArgumentParser, *, date_help: str = "snapshot date YYYY-MM-DD") -> None:
    """The arguments the daily Spark jobs share (jobs/build_audiences.py, jobs/analyze_effects.py):
    --manifest --date --config --entity --run-id and the OpenLineage parent runs."""
    parser.add_argument("--manifest", required=True, help="compiled manifest (target/manifest.json)")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help=date_help)
    parser.add_argument("--config", help="settings YAML (default: $TAGFACTORY_CONFIG or embedded defaults)")
    parser.add_argument("--entity", action="append", help="only this entity (repeatable)")
    parser.add_argument("--run-id", help="run id (default: a new timestamped id)")
    parser.add_argument("--lineage-parent-id", help="OpenLineage parent run, namespace/job_name/run_id (Airflow: "
                        "macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance))")
    parser.add_argument("--lineage-root-parent-id", help="OpenLineage root run (the DAG run), namespace/job_name/run_id")


def run_daily_job(prog: str, doc: str, load_runner: Callable[[], Callable[..., int]], argv: list[str] | None, *,
                  date_help: str = "snapshot date YYYY-MM-DD") -> int:
    """The ``main`` of a daily Spark job (jobs/build_audiences.py, jobs/analyze_effects.py).

    Parses :func:`job_arguments`, imports the runner only then (``--help`` starts no Spark) and
    calls it as ``runner(date, manifest_file=, config=, entities=, run_id=, lineage_parent_id=,
    lineage_root_parent_id=)`` under :func:`run_reported`.
    """
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    job_arguments(parser, date_help=date_help)
    args = parser.parse_args(argv)

    def command() -> int:
        runner = load_runner()
        return runner(args.date, manifest_file=args.manifest, config=args.config, entities=args.entity,
                      run_id=args.run_id, lineage_parent_id=args.lineage_parent_id or None,
                      lineage_root_parent_id=args.lineage_root_parent_id or None)

    return run_reported(prog, command)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render --help in the docs)."""
    parser = argparse.ArgumentParser(
        prog="tagfactory",
        description="Lakehouse Tag Factory: tag definitions as YAML -> fused Spark SQL -> daily Delta snapshots.",
    )
    parser.add_argument("--version", action="version", version=f"tagfactory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check definitions (no Spark); exit 0 valid, 1 invalid, 2 usage error")
    p.add_argument("path", nargs="?", default="tag_definitions", help="definitions folder or file (default: tag_definitions)")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="output format (default: text; github: workflow annotations on the changed lines)")

    p = sub.add_parser(
        "plan", help="what a change to the definitions does, vs a git ref: tags, SQL diffs, breaking changes, impact",
        description="Compare the definitions at a git ref (default: the merge-base with main) with the working "
                    "tree: tags added, removed, renamed and modified (which fields), the compiled SQL diff per "
                    "tag, breaking changes and downstream impact. No Spark unless --preview. Exit 0 when the "
                    "change is valid, 1 when it is not (or with --fail-on-breaking and breaking changes), 2 for "
                    "a usage or git error.")
    p.add_argument("path", nargs="?", default="tag_definitions", help="definitions folder (default: tag_definitions)")
    p.add_argument("--base", help="git ref to compare with (default: merge-base of HEAD and main)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output format (default: text)")
    p.add_argument("--output", help="also write the report to this file")
    p.add_argument("--no-sql", action="store_true", help="text format: leave out the SQL diffs")
    p.add_argument("--fail-on-breaking", action="store_true", help="exit 1 when there are breaking changes")
    p.add_argument("--preview", action="store_true",
                   help="run base and head definitions of the changed tags on sample data with local Spark and "
                        "compare coverage, nulls, distinct values and distributions")
    p.add_argument("--date", type=_date, help="preview snapshot date (default: yesterday)")
    p.add_argument("--sample", help="preview: root folder or URI of sample source data (default: settings sources_root)")
    p.add_argument("--master", help="preview: Spark master (default: local[2])")
    p.add_argument("--config", help="settings YAML")

    p = sub.add_parser("compile", help="validate and write the manifest (target/manifest.json, target/compiled/*.sql)")
    p.add_argument("--definitions", help="definitions folder (default: settings.definitions = tag_definitions)")
    p.add_argument("--target", help="output folder (default: settings.target = target)")
    p.add_argument("--config", help="settings YAML (default: $TAGFACTORY_CONFIG or embedded defaults)")

    p = sub.add_parser("manifest-schema", help="print the JSON schema of the compiled manifest (docs/manifest.schema.json)")
    p.add_argument("--output", help="write it to this file instead")

    p = sub.add_parser("lineage", help="column lineage of a tag, audience, scene, export or effect table (column) from the "
                       "manifest: upstream to source columns, downstream to every reader (no Spark)",
                       description="Answer from target/manifest.json (compiled first when missing or older than the "
                                   "definitions): upstream, the tree of inputs down to source columns with the "
                                   "OpenLineage transformation of each hop; downstream, every tag, audience, scene, "
                                   "export and effect-table column that reads it. Default: both.")
    p.add_argument("target", help="NAME[.COLUMN]: a tag, audience, scene, export, effect table "
                                  "(effect_stats_user.sum_y) or source (users.email); "
                                  "prefix the kind to choose (tag:NAME, export:NAME.COLUMN)")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument("--upstream", action="store_true", help="only the inputs, down to source columns")
    direction.add_argument("--downstream", action="store_true", help="only what reads it")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--definitions", help="definitions folder (default: settings.definitions = tag_definitions)")
    p.add_argument("--target", dest="target_dir", help="manifest folder (default: settings.target = target)")
    p.add_argument("--config", help="settings YAML")

    p = sub.add_parser("demo-data", help="generate the deterministic demo e-commerce sources")
    p.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    p.add_argument("--users", type=int, default=50_000, help="number of users (default: 50000)")
    p.add_argument("--end-date", type=_date, default=dt.date(2026, 11, 24), help="last day of data (default: 2026-11-24)")
    p.add_argument("--days", type=int, default=400, help="days of history (default: 400)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")

    p = sub.add_parser("build", help="check sources, build, audit (quality gate) and publish the profile snapshot of a date with local Spark (in-process)")
    p.add_argument("--date", type=_date, required=True, help="snapshot date D (YYYY-MM-DD)")
    p.add_argument("--manifest", help="manifest file (default: <target>/manifest.json)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--master", help="Spark master, e.g. local[2], yarn, k8s://https://host:443")
    p.add_argument("--entity", action="append", help="only this entity (repeatable; default: all)")

    p = sub.add_parser(
        "publish", help="publish a staged run; with --override-gate, a run the quality gate quarantined",
        description="Publish a staged snapshot. A run that failed the quality gate sits in the table's "
                    "quarantine; publishing it needs --override-gate and a --reason, which are recorded in "
                    "the quality_results table and in the Delta commit.")
    p.add_argument("--date", type=_date, required=True, help="snapshot date of the run")
    p.add_argument("--entity", default="user", help="entity (default: user)")
    p.add_argument("--run-id", help="run to publish (default with --override-gate: the latest quarantined run of the date)")
    p.add_argument("--override-gate", action="store_true", help="publish although the quality gate failed")
    p.add_argument("--reason", help="why the gate is overridden (required with --override-gate)")
    p.add_argument("--by", help="who overrides (default: $USER)")
    p.add_argument("--manifest", help="manifest file (default: <target>/manifest.json)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--master", help="Spark master (default: local[2])")

    p = sub.add_parser("audiences", help="materialize, audit and publish the audiences and scenes of a date "
                       "(after the profile snapshot is published)")
    p.add_argument("--date", type=_date, required=True, help="snapshot date D (YYYY-MM-DD)")
    p.add_argument("--manifest", help="manifest file (default: <target>/manifest.json)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--master", help="Spark master, e.g. local[2], yarn, k8s://https://host:443")
    p.add_argument("--entity", action="append", help="only this entity (repeatable; default: all)")
    p.add_argument("--run-id", help="run id (default: a new timestamped id; with --override-gate: the quarantined run)")
    p.add_argument("--override-gate", action="store_true",
                   help="publish the audience tables a failed guardrail quarantined (needs --run-id and --reason)")
    p.add_argument("--reason", help="why the guardrails are overridden (recorded in quality_results and the commits)")
    p.add_argument("--by", help="who overrides (default: $USER)")

    p = sub.add_parser(
        "export", help="select, deliver and verify the exports due on a date (file drops, Hive tables)",
        description="Select each due export's rows once from the published tables of the date, stage them, "
                    "deliver the staged copy to every destination, record a receipt per destination and fail "
                    "unless every destination holds the rows selected. A re-run that changes nothing delivers "
                    "nothing; a backfill is the same command for an older date (docs/exports.md).")
    p.add_argument("--date", type=_date, required=True, help="snapshot date D (YYYY-MM-DD)")
    p.add_argument("--export", action="append", help="only this export (repeatable; default: every due export)")
    p.add_argument("--destination", action="append", help="only this destination, by name or kind (repeatable)")
    p.add_argument("--step", choices=("all", "select", "deliver", "verify"), default="all",
                   help="one step only, as the DAG runs them (default: all three)")
    p.add_argument("--run-id", help="run id recorded in the receipts (default: a new timestamped id)")
    p.add_argument("--manifest", help="manifest file (default: <target>/manifest.json)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--master", help="Spark master, e.g. local[2], yarn, k8s://https://host:443")

    p = sub.add_parser("show-exports", help="print the deliveries of a date from the export receipts: export, "
                       "destination, rows, status, where (no Spark)")
    p.add_argument("--date", type=_date, help="snapshot date (default: every date)")
    p.add_argument("--config", help="settings YAML")

    p = sub.add_parser("catalog", help="build the tag catalog: a static site of tags, sources, audiences, scenes, "
                       "exports and quality results (no Spark; opens from file://)")
    p.add_argument("--out", help="output folder (default: <target>/catalog)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--snapshots", type=int, default=30, help="statistics of the last N snapshots (default: 30)")
    p.add_argument("--serve", action="store_true", help="then serve it on http://127.0.0.1:PORT until Ctrl-C")
    p.add_argument("--port", type=int, default=8000, help="--serve port (default: 8000)")

    p = sub.add_parser(
        "exports", help="the registry of every export: owner, consumer, destinations, schedule, lifecycle, last "
        "delivery, consumption and idle flag (no Spark); `exports ack` acknowledges a drop",
        description="List every export of the compiled manifest with its owner, consumer, destinations, schedule, "
                    "lifecycle, last delivery (from export_receipts) and how it is consumed (acknowledgements of "
                    "drops and workbooks, Kafka consumer groups); an export nobody consumed for "
                    "exports.idle_after_days is idle (docs/exports.md, \"Registry and consumption\").")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    p.add_argument("--as-of", type=_date, help="as of the end of this date (default: today; a past date only reads)")
    p.add_argument("--manifest", help="manifest file (default: <target>/manifest.json)")
    p.add_argument("--config", help="settings YAML")
    acts = p.add_subparsers(dest="exports_command", metavar="ACTION")
    a = acts.add_parser("ack", help="acknowledge a drop or workbook: write _ACK beside its _SUCCESS (local Spark "
                        "for the Hadoop file system)")
    a.add_argument("export", help="export name")
    a.add_argument("--date", type=_date, required=True, help="snapshot date of the drop")
    a.add_argument("--destination", help="destination name (needed when the export has several drops/workbooks)")
    a.add_argument("--by", help="who consumed it (default: $USER)")
    a.add_argument("--rows-loaded", type=int, help="rows the consumer loaded (optional)")
    a.add_argument("--manifest", dest="ack_manifest", help="manifest file (default: <target>/manifest.json)")
    a.add_argument("--config", dest="ack_config", help="settings YAML")
    a.add_argument("--master", help="Spark master (default: local[1])")

    p = sub.add_parser("show-audiences", help="print audience sizes, day-over-day changes and scene counts "
                       "of a date (reads the Delta tables, no Spark)")
    p.add_argument("--date", type=_date, help="snapshot date (default: the latest)")
    p.add_argument("--entity", default="user", help="entity (default: user)")
    p.add_argument("--config", help="settings YAML")

    p = sub.add_parser("effects", help="print the effect of every scene goal per comparison: users, means, effect with "
                       "its interval, lift, q-value, trust, cost per incremental conversion (reads the "
                       "effect_results table, no Spark)")
    p.add_argument("--scene", help="only this scene (default: every analysed scene)")
    p.add_argument("--date", type=_date, help="as-of date of the analysis (default: the latest)")
    p.add_argument("--slices", action="store_true", help="also the results per slice value (the goals' slices)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--entity", default="user", help="entity (default: user)")
    p.add_argument("--config", help="settings YAML")

    p = sub.add_parser("lookup", help="what one user gets: audiences and, per scene, branch, group and payload")
    p.add_argument("key", help="entity key, e.g. u0000123")
    p.add_argument("--date", type=_date, help="snapshot date (default: the latest)")
    p.add_argument("--entity", default="user", help="entity (default: user)")
    p.add_argument("--config", help="settings YAML")

    p = sub.add_parser("maintain", help="compact small files and vacuum files past the retention in every "
                                        "warehouse table (the DAG's maintain_tables task)")
    p.add_argument("--manifest", help="manifest file (default: <target>/manifest.json)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--retention-days", type=float,
                   help="delete files removed longer ago than this (default: settings maintenance.retention_days = 7)")

    p = sub.add_parser("show", help="print a published snapshot: location, version, row count, sample rows")
    p.add_argument("--date", type=_date, help="snapshot date (default: the latest)")
    p.add_argument("--entity", default="user", help="entity (default: user)")
    p.add_argument("--config", help="settings YAML")
    p.add_argument("--limit", type=int, default=5, help="sample rows to print (default: 5)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tagfactory`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = {
        "lineage": _lineage,
        "validate": _validate, "plan": _plan, "compile": _compile, "demo-data": _demo_data,
        "build": _build, "publish": _publish, "show": _show, "audiences": _audiences,
        "show-audiences": _show_audiences, "effects": _effects, "lookup": _lookup, "maintain": _maintain,
        "manifest-schema": _manifest_schema, "export": _export,
        "show-exports": _show_exports,
        "catalog": _catalog,
        "exports": _exports,
    }[args.command]
    return run_reported(f"tagfactory {args.command}", lambda: handler(args))


def run_reported(prog: str, command: Callable[[], int]) -> int:
    """Run ``command`` (a CLI command or a job's main) and return its exit code.

    A :class:`~tagfactory.errors.TagFactoryError` (a problem the user can fix) is printed as
    ``<prog>: error: <message>`` without a traceback and gives exit code 1; Ctrl-C gives 130.
    Anything else is a bug and propagates with its traceback.
    """
    try:
        return command()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TagFactoryError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID


def _validate(args: argparse.Namespace) -> int:
    from tagfactory.compiler.project import check_project

    if not Path(args.path).exists():
        print(f"tagfactory validate: error: no such file or folder: {args.path}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    project, diagnostics = check_project(args.path)
    elapsed = time.perf_counter() - started
    errors = [d for d in diagnostics if d.severity.value == "error"]
    if args.format == "json":
        print(json.dumps({
            "valid": project is not None,
            "errors": len(errors),
            "warnings": len(diagnostics) - len(errors),
            "tags": len(project.tags) if project else None,
            "seconds": round(elapsed, 3),
            "diagnostics": [d.to_dict() for d in diagnostics],
        }, indent=2, ensure_ascii=False))
    else:
        for diag in diagnostics:
            print(_github_annotation(diag) if args.format == "github" else diag.format())
        if project is not None:
            extra = ""
            if project.audiences is not None and (project.audiences.audiences or project.audiences.scenes):
                extra = f", {len(project.audiences.audiences)} audiences, {len(project.audiences.scenes)} scenes"
            if project.exports:
                extra += f", {len(project.exports)} exports"
            if project.goals is not None and project.goals.goals:
                extra += f", {len(project.goals.goals)} goals"
            print(f"ok: {len(project.tags)} tags, {len(project.sources)} sources, {len(project.entities)} "
                  f"entities{extra} valid ({len(diagnostics)} warnings) in {elapsed:.2f}s")
        else:
            print(f"invalid: {len(errors)} errors, {len(diagnostics) - len(errors)} warnings", file=sys.stderr)
    return EXIT_OK if project is not None else EXIT_INVALID


def _github_annotation(diag: Any) -> str:
    """A GitHub Actions workflow command that marks the line in the pull request's diff."""
    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    level = "error" if diag.severity.value == "error" else "warning"
    message = diag.message + (f"\nhint: {diag.hint}" if diag.hint else "")
    props = f"file={esc(diag.file)},line={diag.line},col={diag.col},title={diag.code}".replace(":", "%3A")
    return f"::{level} {props}::{esc(message)}"


def _plan(args: argparse.Namespace) -> int:
    import tempfile

    from tagfactory.compiler import gitref
    from tagfactory.compiler.diff import PlanDiff, diff_projects, removal_errors
    from tagfactory.compiler.project import analyze
    from tagfactory.compiler.report import render_json, render_markdown, render_text

    definitions = Path(args.path)
    if not definitions.exists():
        print(f"tagfactory plan: error: no such file or folder: {args.path}", file=sys.stderr)
        return EXIT_USAGE
    try:
        repo = gitref.repo_root(definitions)
        base_ref = args.base or gitref.default_base(repo)
        label = f"{args.base or 'merge-base'} ({gitref.describe(repo, base_ref)})"
        with tempfile.TemporaryDirectory(prefix="tagfactory-base-") as tmp:
            base_root = gitref.export_definitions(repo, base_ref, definitions, Path(tmp))
            base = analyze(base_root)
    except gitref.GitError as exc:
        print(f"tagfactory plan: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    head = analyze(definitions)
    if base.project is None:
        print(f"tagfactory plan: the base definitions at {label} are invalid, so there is nothing to compare with:",
              file=sys.stderr)
        for d in base.diagnostics[:20]:
            print("  " + d.format().splitlines()[0], file=sys.stderr)
        return EXIT_INVALID
    if head.project is None:
        from tagfactory.compiler.goal_impact import goal_removal_errors

        diff = PlanDiff(label, "working tree", [], [], {},
                        diagnostics=removal_errors(base.project, base.checked, head.checked)
                        + goal_removal_errors(base.project, head.resolved) + head.diagnostics)
    else:
        diff = diff_projects(base.project, head.project, label, "working tree")
        diff.diagnostics = head.diagnostics
        for change in diff.tags:
            if change.change == "removed":
                change.location = f"{label.split()[0]}:{Path(change.location).name}"
    if head.project is not None and diff.exports:
        from tagfactory.exports.registry import idle_for_plan
        from tagfactory.settings import load_settings

        changed = [x.spec for x in head.project.exports if x.spec.name in diff.exports]
        diff.idle_exports = idle_for_plan(load_settings(args.config), changed)
    preview = None
    if args.preview and head.project is not None and any(c.values_change for c in diff.tags):
        preview = _run_preview(args, base.project, head.project, diff)
    renderer = {"text": lambda: render_text(diff, preview, show_sql=not args.no_sql),
                "markdown": lambda: render_markdown(diff, preview), "json": lambda: render_json(diff, preview)}
    report = renderer[args.format]()
    sys.stdout.write(report)
    if args.output:
        Path(args.output).write_text(report, encoding="utf-8")
    if diff.errors:
        return EXIT_INVALID
    return EXIT_INVALID if args.fail_on_breaking and diff.breaking else EXIT_OK


def _run_preview(args: argparse.Namespace, base: Any, head: Any, diff: Any) -> dict[str, Any]:
    from tagfactory.lakehouse.store import open_store
    from tagfactory.pipeline.preview import run_preview
    from tagfactory.pipeline.runtime import start_spark
    from tagfactory.settings import load_settings

    settings = load_settings(args.config, {"sources_root": args.sample})
    date = args.date or (dt.date.today() - dt.timedelta(days=1))
    # sample data: few partitions
    settings.spark.conf = {"spark.sql.shuffle.partitions": "8", **settings.spark.conf}
    spark = start_spark(settings, args.master, "tagfactory-plan-preview")
    try:
        return run_preview(spark, settings, base, head, diff, date, settings.sources_root,
                           tables=open_store(settings, spark))
    finally:
        spark.stop()


def _compile(args: argparse.Namespace) -> int:
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.diagnostics import DefinitionError
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project
    from tagfactory.settings import load_settings

    settings = load_settings(args.config, {"definitions": args.definitions, "target": args.target})
    started = time.perf_counter()
    try:
        project, warnings = load_project(settings.definitions)
    except DefinitionError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    for warning in warnings:
        print(warning.format(), file=sys.stderr)
    manifest = build_manifest(project, settings.definitions)
    path = write_manifest(manifest, settings.target)
    for entity in manifest.entities:
        print(f"compiled entity {entity.name}: {len(entity.tags)} tags, {len(entity.audiences)} audiences, "
              f"{len(entity.scenes)} scenes from {len(entity.sources)} sources "
              f"-> {Path(settings.target) / entity.sql_file}")
    print(f"manifest written to {path} (digest {manifest.digest[:12]}) in {time.perf_counter() - started:.2f}s")
    return EXIT_OK


def _manifest_schema(args: argparse.Namespace) -> int:
    from tagfactory.compiler.manifest import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _lineage(args: argparse.Namespace) -> int:
    from tagfactory.compiler.lineage_query import fresh_manifest, query, render_json, render_text
    from tagfactory.settings import load_settings

    settings = load_settings(args.config, {"definitions": args.definitions, "target": args.target_dir})
    manifest, compiled = fresh_manifest(settings.definitions, settings.target)
    if compiled:
        print(f"compiled {settings.definitions} -> {Path(settings.target) / 'manifest.json'}", file=sys.stderr)
    results = query(manifest, args.target, up=not args.downstream, down=not args.upstream)
    print(render_json(results) if args.format == "json" else render_text(results))
    return EXIT_OK


def _demo_data(args: argparse.Namespace) -> int:
    from tagfactory.demo.generate import generate_demo_data

    counts = generate_demo_data(args.out, n_users=args.users, end_date=args.end_date, days=args.days, seed=args.seed)
    print("demo data in " + str(Path(args.out).resolve()) + ": "
          + ", ".join(f"{name} {rows:,}" for name, rows in counts.items()))
    return EXIT_OK


def _audiences(args: argparse.Namespace) -> int:
    from tagfactory.audiences.job import run_audiences

    if args.override_gate and not args.reason:
        print("tagfactory audiences: error: --override-gate needs --reason \"...\" (it is recorded)", file=sys.stderr)
        return EXIT_USAGE
    return run_audiences(args.date, manifest_file=args.manifest, config=args.config, master=args.master,
                         entities=args.entity, run_id=args.run_id,
                         override_reason=args.reason if args.override_gate else None, actor=args.by)


def _export(args: argparse.Namespace) -> int:
    from tagfactory.exports.job import run_exports

    return run_exports(args.date, manifest_file=args.manifest, config=args.config, master=args.master,
                       exports=args.export, destinations=args.destination, run_id=args.run_id, step_name=args.step)


def _show_exports(args: argparse.Namespace) -> int:
    from tagfactory.exports.job import print_summary, summary
    from tagfactory.settings import load_settings

    rows = summary(load_settings(args.config), args.date)
    if not rows:
        print("no deliveries recorded" + (f" for {args.date}" if args.date else ""))
        return EXIT_OK
    print_summary(rows)
    return EXIT_OK


def _catalog(args: argparse.Namespace) -> int:
    from tagfactory.catalog.site import build_catalog
    from tagfactory.settings import load_settings

    result = build_catalog(load_settings(args.config), args.out, snapshots=args.snapshots)
    print(f"catalog: {result.pages} files in {result.seconds:.2f}s ({len(result.tables)} warehouse tables read"
          f"{', manifest compiled first' if result.compiled else ''}); open file://{result.index.resolve()}")
    if args.serve:
        from tagfactory.catalog.serve import serve

        serve(result.out, args.port)
    return EXIT_OK


def _exports(args: argparse.Namespace) -> int:
    from tagfactory.exports import registry

    if args.exports_command == "ack":
        return registry.ack_command(args.export, args.date, args.destination, args.by, args.rows_loaded,
                                    args.ack_manifest or args.manifest, args.ack_config or args.config, args.master)
    print(registry.listing(args.config, args.manifest, args.as_of, args.format), end="")
    return EXIT_OK


def _build(args: argparse.Namespace) -> int:
    from tagfactory.pipeline.job import run_build

    return run_build(snapshot_date=args.date, manifest_file=args.manifest, config=args.config,
                     master=args.master, entities=args.entity)


def _publish(args: argparse.Namespace) -> int:
    from tagfactory.lakehouse.store import open_store
    from tagfactory.pipeline.job import publish_staged
    from tagfactory.pipeline.runtime import job_lineage, lineage_emitter, load_manifest, start_spark
    from tagfactory.settings import load_settings

    if args.override_gate and not args.reason:
        print("tagfactory publish: error: --override-gate needs --reason \"why\"", file=sys.stderr)
        return EXIT_USAGE
    if args.reason and not args.override_gate:
        print("tagfactory publish: error: --reason is only used with --override-gate", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings(args.config)
    manifest = load_manifest(settings, args.manifest)
    entity = manifest.choose([args.entity])[0]
    spark = start_spark(settings, args.master, "tagfactory-publish")
    try:
        result = publish_staged(spark, settings, entity, args.date, args.run_id, manifest.digest,
                                tables=open_store(settings, spark),
                                override_reason=args.reason if args.override_gate else None, actor=args.by,
                                emitter=job_lineage(lineage_emitter(settings), spark.version),
                                column_lineage=manifest.column_lineage)
    finally:
        spark.stop()
    print(f"published {entity.profile_table} dt={args.date}: version {result['version']}, {result['rows']:,} rows")
    return EXIT_OK


def _show_audiences(args: argparse.Namespace) -> int:
    from tagfactory.audiences.report import audience_summary
    from tagfactory.settings import load_settings

    print(audience_summary(load_settings(args.config), args.entity, args.date))
    return EXIT_OK


def _effects(args: argparse.Namespace) -> int:
    from tagfactory.analysis.report import effects_report
    from tagfactory.settings import load_settings

    print(effects_report(load_settings(args.config), args.entity, args.date, args.scene, slices=args.slices,
                         fmt=args.format))
    return EXIT_OK


def _lookup(args: argparse.Namespace) -> int:
    from tagfactory.audiences.report import lookup
    from tagfactory.settings import load_settings

    print(lookup(load_settings(args.config), args.key, args.entity, args.date))
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from tagfactory.pipeline.show import show_snapshot
    from tagfactory.settings import load_settings

    settings = load_settings(args.config)
    print(show_snapshot(settings, args.entity, args.date, args.limit))
    return EXIT_OK


def _maintain(args: argparse.Namespace) -> int:
    from tagfactory.pipeline.maintenance import run_maintenance

    return run_maintenance(args.manifest, args.config, retention_days=args.retention_days)


if __name__ == "__main__":
    sys.exit(main())
