"""Benchmark: `tagfactory validate` on 2,000 generated tags (target: under 5 s on 2 cores).

Generates a definitions folder with the repository's sources and 2,000 synthetic tags of every
kind (aggregates over every source with windows and filters, attributes, rules and derived tags
that reference other tags, sql tags), then measures:

* the whole command as a user runs it (`tagfactory validate DIR`, a fresh process: Python start,
  imports, checks), best of 3;
* in-process phases: YAML + models, cross-file checks (references, types, SQL), resolution;
* a baseline measured in the same run: `yaml.safe_load` of the same files, the floor any
  YAML-based validator pays.

Prints times and ratios; asserts nothing. Usage:
    python benchmarks/validate_2000.py [--tags 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 5.0
FILES = 40

AGGS = {
    "orders": [("count", None, "integer"), ("sum", "amount", "double"), ("avg", "amount", "double"),
               ("max", "amount", "double"), ("count_distinct", "payment_method", "integer"),
               ("mode", "channel", "string"), ("days_since_last", None, "integer"),
               ("distinct_values", "payment_method", "array<string>")],
    "events": [("count", None, "integer"), ("count_distinct", "session_id", "integer"),
               ("days_since_last", None, "integer"), ("last", "platform", "string")],
    "marketing_touches": [("count", None, "integer"), ("count_distinct", "campaign_id", "integer")],
}
FILTERS = {
    "orders": ["status = 'completed'", "status IN ('completed', 'refunded')", "amount >= 100", None],
    "events": ["event_type = 'page_view'", "platform = 'ios' AND event_type IN ('search', 'add_to_cart')", None],
    "marketing_touches": ["opened", "channel = 'sms'", None],
}
WINDOWS = ["7d", "14d", "30d", "60d", "90d", "180d", "365d", "all"]


def _common(name: str, category: str, rng: random.Random) -> dict:
    return {"name": name, "display_name": f"标签 {name}", "description": f"Generated benchmark tag {name}.",
            "owner": rng.choice(["growth-data", "crm", "risk-team"]), "category": category}


def generate(out: Path, n_tags: int, seed: int = 1) -> int:
    """Write sources and ``n_tags`` tags under ``out``; return the number of tags written."""
    rng = random.Random(seed)
    shutil.copytree(REPO / "tag_definitions" / "sources", out / "sources")
    numeric: list[str] = []
    tags: list[dict] = []
    while len(tags) < n_tags:
        i = len(tags)
        roll = rng.random()
        if roll < 0.55 or len(numeric) < 10:
            source = rng.choice(list(AGGS))
            agg, column, typ = rng.choice(AGGS[source])
            tag = {**_common(f"t{i}_{agg}", "behavior/generated", rng), "kind": "aggregate", "type": typ,
                   "source": source, "agg": agg, "window": rng.choice(WINDOWS)}
            if column:
                tag["column"] = column
            flt = rng.choice(FILTERS[source])
            if flt:
                tag["filter"] = flt
            if typ in ("integer", "double"):
                numeric.append(tag["name"])
        elif roll < 0.65:
            tag = {**_common(f"t{i}_attr", "basic/generated", rng), "kind": "attribute", "type": "string",
                   "expr": rng.choice(["upper(city)", "concat(gender, '-', member_level)",
                                       "CASE WHEN phone_verified THEN 'verified' ELSE 'unverified' END"])}
        elif roll < 0.8:
            a, b = rng.sample(numeric, 2)
            tag = {**_common(f"t{i}_rule", "consumption/generated", rng), "kind": "rule", "type": "enum",
                   "values": ["high", "mid", "low"],
                   "rules": [{"when": f"{a} >= {rng.randint(5, 50)} AND {b} > 0", "then": "high"},
                             {"when": f"{a} > 0 OR {b} IS NOT NULL", "then": "mid"}], "else": "low"}
        elif roll < 0.95:
            a, b = rng.sample(numeric, 2)
            tag = {**_common(f"t{i}_derived", "consumption/generated", rng), "kind": "derived", "type": "double",
                   "expr": f"round(coalesce({a}, 0) / nullif({b}, 0), 4)"}
            numeric.append(tag["name"])
        else:
            tag = {**_common(f"t{i}_sql", "risk/generated", rng), "kind": "sql", "type": "integer",
                   "sql": "SELECT user_id, count(DISTINCT to_date(order_ts)) AS value\nFROM orders\n"
                          f"WHERE order_ts >= date_sub(snapshot_date, {rng.randint(6, 89)})\nGROUP BY user_id"}
        tags.append(tag)
    (out / "tags").mkdir(parents=True)
    per_file = -(-len(tags) // FILES)
    for f in range(FILES):
        chunk = tags[f * per_file:(f + 1) * per_file]
        if chunk:
            (out / "tags" / f"generated_{f:02d}.yaml").write_text(
                yaml.safe_dump({"tags": chunk}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return len(tags)


def _best(runs: list[float]) -> str:
    return f"best {min(runs):.2f}s, median {statistics.median(runs):.2f}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=2000, help="number of tags (default: 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default: 3)")
    parser.add_argument("--keep", help="write the generated definitions here and keep them")
    args = parser.parse_args()

    from tagfactory.compiler.diagnostics import DiagnosticSink
    from tagfactory.compiler.parse import parse_definitions
    from tagfactory.compiler.resolve import resolve
    from tagfactory.compiler.validate import check_definitions

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tagfactory-bench-"))
    if tmp.exists() and args.keep:
        shutil.rmtree(tmp)
    root = tmp / "tag_definitions"
    n = generate(root, args.tags)
    files = sorted(root.rglob("*.yaml"))
    print(f"generated {n} tags in {len(files)} files under {root}")

    baseline = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        for f in files:
            yaml.safe_load(f.read_text(encoding="utf-8"))
        baseline.append(time.perf_counter() - t)

    phases: dict[str, list[float]] = {"parse (YAML + models)": [], "checks (refs, types, SQL)": [], "resolve": []}
    for _ in range(args.repeat):
        sink = DiagnosticSink()
        t0 = time.perf_counter()
        parsed = parse_definitions(root, sink)
        t1 = time.perf_counter()
        checked = check_definitions(parsed, sink)
        t2 = time.perf_counter()
        resolve(checked, sink)
        t3 = time.perf_counter()
        if sink.errors:
            print("generated definitions are invalid:\n" + "\n".join(d.format() for d in sink.errors[:10]))
            return 1
        for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            phases[key].append(value)
    in_process = [sum(v) for v in zip(*phases.values(), strict=True)]

    cli = []
    exe = Path(sys.executable).with_name("tagfactory")
    for _ in range(args.repeat):
        t = time.perf_counter()
        done = subprocess.run([str(exe), "validate", str(root)], capture_output=True, text=True, check=False)
        cli.append(time.perf_counter() - t)
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:])
            return 1

    print(f"baseline  yaml.safe_load of the same files: {_best(baseline)}")
    for key, runs in phases.items():
        print(f"phase     {key:<28} {_best(runs)}")
    print(f"in-process validate: {_best(in_process)}  ({min(in_process) / min(baseline):.1f}x the YAML baseline)")
    print(f"command   tagfactory validate ({n} tags): {_best(cli)}  "
          f"-> {min(cli) / TARGET_SECONDS:.0%} of the {TARGET_SECONDS:.0f}s target "
          f"({'met' if min(cli) < TARGET_SECONDS else 'NOT met'})")
    print(f"per tag: {min(in_process) / n * 1000:.2f} ms")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
