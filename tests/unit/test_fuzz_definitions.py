"""Property-based tests: random and mutated YAML never crash the definitions loader.

Whatever is written in a definitions folder, ``check_project`` returns diagnostics (never
raises), ``load_project`` raises nothing but ``DefinitionError``, every diagnostic is located
and coded, and ``tagfactory validate`` exits 0 or 1 without printing a Python traceback.

Inputs, from the most to the least random:

1. random bytes and random text (invalid UTF-8, NUL and control characters, tabs, deep
   nesting, anchors and aliases, ``!!python/object`` tags, very long lines), also spliced
   into the shipped YAML files;
2. random YAML structures (``st.recursive`` of mappings, lists and scalars) under the
   top-level keys ``tags`` / ``sources`` / ``entities`` or random keys;
3. mutations of the shipped definitions: fields deleted, renamed, retyped, SQL and
   expressions replaced or edited character by character, tags duplicated, references to
   unknown (or the same) tags injected, kinds, types, windows and lifecycles changed;
4. audience and scene files: well-typed rule trees, lists and SQL audiences with scenes over
   them (mostly accepted), random ones (rule nodes, operators, values, list specs, guardrails,
   branches, variants, splits), and mutations of the shipped audience and scene files inside the
   whole project. Accepted ones must also compile: the manifest holds every built audience and is
   written and read back.

Examples are derandomized (the same ones on every run) so CI is deterministic; set
``TAGFACTORY_FUZZ_SCALE`` (see ``SCALE``) to explore further with fresh random examples.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, note, settings
from hypothesis import strategies as st

from tagfactory.cli import main
from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.diagnostics import CODES, DefinitionError, Diagnostic, Severity
from tagfactory.compiler.manifest import read_manifest, write_manifest
from tagfactory.compiler.models import AGGREGATIONS, CATEGORIES, TAG_KINDS, VALUE_TYPES
from tagfactory.compiler.project import check_project, load_project
from tests.unit.definitions import REPO

DEFS = REPO / "tag_definitions"
SOURCE_FILES = sorted((DEFS / "sources").glob("*.yaml"))
TAG_FILES = sorted((DEFS / "tags").glob("*.yaml"))
ALL_FILES = SOURCE_FILES + TAG_FILES
TEXTS = {p: p.read_text(encoding="utf-8") for p in ALL_FILES}
DOCS = {p: yaml.safe_load(text) for p, text in TEXTS.items()}
TAG_NAMES = sorted(t["name"] for p in TAG_FILES for t in DOCS[p]["tags"])
SOURCE_NAMES = sorted(s["name"] for p in SOURCE_FILES for s in DOCS[p].get("sources", []))
COLUMN_NAMES = sorted({c for p in SOURCE_FILES for s in DOCS[p].get("sources", []) for c in s["columns"]})
FIELD_NAMES = sorted({f for p in ALL_FILES for section in DOCS[p].values() for item in section for f in item}
                     | {"else", "when", "then", "rules", "filter", "column", "window", "sql", "default"})

CODE_RE = re.compile(r"^[EW]\d{3}$")
# What a leaked Python exception looks like in output.
TRACEBACK_MARKERS = ("Traceback", 'File "')

# CI runs a fixed set of examples (derandomized, ~45 s in all on one core). To explore, run with e.g.
# TAGFACTORY_FUZZ_SCALE=20: twenty times more examples, fresh random ones on every run.
SCALE = int(os.environ.get("TAGFACTORY_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=50 * SCALE,
    deadline=None,
    derandomize=SCALE == 1,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# --------------------------------------------------------------------------------------------
# The property
# --------------------------------------------------------------------------------------------

def make_root(tmp: Path, files: dict[str, bytes], *, with_sources: bool = True, with_tags: bool = False) -> Path:
    """A definitions folder: the shipped sources (and tags), with ``files`` written over them."""
    root = tmp / "tag_definitions"
    if with_sources:
        shutil.copytree(DEFS / "sources", root / "sources")
    if with_tags:
        shutil.copytree(DEFS / "tags", root / "tags")
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def _note(text: str) -> None:
    """Show ``text`` with a failing example (a no-op outside Hypothesis)."""
    if currently_in_test_context():
        note(text)


def _no_traceback(text: str, written: str, what: str) -> None:
    for marker in TRACEBACK_MARKERS:
        # a message may quote the input; only text the loader made up is suspicious
        if marker not in written:
            assert marker not in text, f"{what} looks like a Python traceback:\n{text}"


def _check_diagnostic(d: Diagnostic, root: Path, written: str) -> None:
    assert isinstance(d.file, str) and d.file, d
    assert (root.parent / d.file).exists() or Path(d.file).exists(), f"diagnostic names no file: {d.format()}"
    assert isinstance(d.line, int) and d.line >= 0, d
    assert isinstance(d.col, int) and d.col >= 0, d
    assert CODE_RE.match(d.code) and d.code in CODES, d
    assert d.code.startswith("W") == (d.severity is Severity.WARNING), d
    assert isinstance(d.message, str) and d.message.strip(), d
    _no_traceback(d.format(), written, "diagnostic")


def assert_loader_is_robust(root: Path, capsys: pytest.CaptureFixture[str], written: str = "") -> None:
    """The property every example must satisfy; ``written`` is the fuzzed text (for echoes)."""
    # 1. check_project never raises (any exception fails the example, shown with its traceback).
    project, diagnostics = check_project(root)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    assert (project is None) == bool(errors), "a project must be returned exactly when there is no error"
    assert diagnostics == sorted(diagnostics)
    for d in diagnostics:
        _check_diagnostic(d, root, written)
    _note("diagnostics:\n" + "\n".join(d.format() for d in diagnostics))

    # 2. load_project raises DefinitionError, and only that, exactly when check_project found errors.
    try:
        load_project(root)
    except DefinitionError as exc:
        assert errors, "DefinitionError without errors"
        assert str(exc).strip()
        _no_traceback(str(exc), written, "DefinitionError")
    else:
        assert not errors, "load_project accepted definitions with errors"

    # 3. the CLI, text and json: exit 0 or 1 and never a traceback or a swallowed exception.
    capsys.readouterr()
    code = main(["validate", str(root)])
    out = capsys.readouterr()
    assert code == (1 if errors else 0), (code, out.err)
    for stream in (out.out, out.err):
        _no_traceback(stream, written, "validate output")
    assert "tagfactory validate: error:" not in out.err, out.err  # an exception caught by main()

    code = main(["validate", str(root), "--format", "json"])
    out = capsys.readouterr()
    assert code == (1 if errors else 0), (code, out.err)
    _no_traceback(out.err, written, "validate --format json stderr")
    assert "tagfactory validate: error:" not in out.err, out.err
    report = json.loads(out.out)
    assert report["valid"] is (not errors)
    assert report["errors"] == len(errors)
    assert [d["code"] for d in report["diagnostics"]] == [d.code for d in diagnostics]


def check_files(files: dict[str, bytes], capsys: pytest.CaptureFixture[str], **kwargs: bool) -> None:
    written = b"\n".join(files.values()).decode("utf-8", "replace")
    with tempfile.TemporaryDirectory(prefix="tagfuzz-") as tmp:
        root = make_root(Path(tmp), files, **kwargs)
        assert_loader_is_robust(root, capsys, written)


def check_text(text: str, capsys: pytest.CaptureFixture[str], **kwargs: bool) -> None:
    _note(f"fuzz.yaml:\n{text[:4000]}")
    check_files({"fuzz.yaml": text.encode("utf-8", "surrogatepass")}, capsys, **kwargs)


# --------------------------------------------------------------------------------------------
# 1. Random bytes and random text
# --------------------------------------------------------------------------------------------

YAML_TOKENS = [
    "tags:", "sources:", "entities:", "\n", "\n", "\n  ", "\n    ", "  ", "- ", ": ", ":", ",", "{", "}", "[",
    "]", "'", '"', "\t", "# c", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "? ", "|", ">-", "|+2",
    "&a ", "*a", "&b ", "*b", "<<: *a", "!!python/object:os.system ", "!!python/name:os.system ",
    "!!python/object/apply:os.system [ls]", "!!binary ", "!!set ", "!!omap ", "!!str ", "!!int ",
    "!!float ", "!!timestamp ", "!custom ", "!!null ", "name: t", "kind: sql", "kind: rule", "type: enum",
    "expr: ", "sql: ", "when: ", "then: ", "else: ", "window: 30d", "values: [a, b]", "rules:", "null",
    "~", "yes", "no", "on", "2026-13-45", "2026-01-01", "2026-01-01T25:00:00", ".nan", "-.inf", "1e400",
    "0x" + "f" * 4000, "0o777", "1:30:00", "9" * 5000, '"\\ud800"', '"\\U0001F600"', '"\\x00"', '"\\e"',
    "\ufeff", "\x85", "\u2028", "\x00", "\x07", "\r\n", "\r", "上海", "😀", "\\", "%", "@", "`",
]

yaml_soup = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=8), max_size=60).map("".join)


def _nested(depth: int, style: str) -> str:
    if style == "flow list":
        return "tags: " + "[" * depth + "]" * depth + "\n"
    if style == "flow map":
        return "tags: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if style == "anchored":
        return "tags: " + "".join(f"&a{i} [" for i in range(depth)) + "]" * depth + "\n"
    if style == "block list":
        return "tags:\n" + "".join(" " * i + "-\n" for i in range(min(depth, 400)))
    return "tags:\n" + "".join(" " * i + f"k{i}:\n" for i in range(min(depth, 400)))


deep_nesting = st.builds(_nested, st.integers(1, 1500),
                         st.sampled_from(["flow list", "flow map", "anchored", "block list", "block map"]))
long_line = st.tuples(st.integers(1_000, 200_000), st.sampled_from(["a", "(", "'", " ", "é", "- "])).map(
    lambda t: "tags:\n  - name: " + t[1] * t[0] + "\n")
yaml_alphabet = st.text(st.sampled_from("\t\n\r :-[]{}&*!|>'\"#%@`,?\\ab1"), max_size=80)
random_text = st.one_of(st.text(), yaml_alphabet, yaml_soup, deep_nesting, long_line)


def _splice(base: bytes, at: float, cut: int, insert: bytes) -> bytes:
    i = int(at * len(base))
    return base[:i] + insert + base[i + cut:]


random_bytes = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.sampled_from([TEXTS[p].encode() for p in TAG_FILES]), st.floats(0, 1), st.integers(0, 50),
              st.binary(max_size=20)).map(lambda t: _splice(*t)),
    st.sampled_from([b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\x00\x00\xfe\xff", b""]).flatmap(
        lambda bom: st.sampled_from([TEXTS[p] for p in TAG_FILES]).map(
            lambda text: bom + text.encode("utf-16" if bom[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"))),
)


@FUZZ
@given(content=random_bytes)
@example(content=b"tags: \xff\xfe\n")
@example(content=b"tags:\n  - name: \x00\n")
def test_random_bytes_never_crash(content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    _note(f"fuzz.yaml bytes: {content[:2000]!r}")
    check_files({"fuzz.yaml": content}, capsys)


TAG_HEAD = """tags:
  - name: t1
    display_name: x
    description: x
    owner: x
    category: basic/x
    type: integer
"""


@FUZZ
@given(text=random_text)
@example(text="tags: \x07\n")  # control character: the YAML reader refuses it before parsing
@example(text="tags: &a [*a]\n")  # recursive alias
@example(text="? &a [*a]\n: 1\n")
@example(text="tags: !!python/object/apply:os.system [echo hi]\n")
@example(text="tags:\n\t- name: x\n")
@example(text="tags: [0x" + "f" * 4000 + "]\n")  # an int Python refuses to print
@example(text='"\\ud800": 1\n')  # a lone surrogate cannot be printed as UTF-8
@example(text="tags: [{name: 2026-13-45}]\n")
@example(text="!!int")  # PyYAML's constructors raise IndexError, AttributeError... on odd input
@example(text="tags: [!!timestamp x, !!float '', !!binary 1]\n")
@example(text="tags:\n  - &a {name: t1}\n  - <<: *a\n")
@example(text="tags: " + "[" * 5000 + "]" * 5000 + "\n")
# sqlglot recursed too deeply on ~60 nested parentheses (fixed in expressions.py)
@example(text=TAG_HEAD + "    kind: derived\n    expr: '" + "(" * 300 + "1" + ")" * 300 + "'\n")
@example(text=TAG_HEAD + "    kind: sql\n    sql: 'SELECT user_id, " + "NOT " * 400 + "1 AS value FROM users'\n")
def test_random_text_never_crashes(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    check_text(text, capsys)


def test_nested_aliases_are_refused_not_expanded(capsys: pytest.CaptureFixture[str]) -> None:
    """Billion laughs: five levels of ten aliases would be a million values; the loader stops early.

    (Kept small on purpose: if the guard is lost this fails in seconds instead of eating memory.)
    """
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 6))
    check_text(text, capsys)
    with tempfile.TemporaryDirectory(prefix="tagfuzz-") as tmp:
        _, diagnostics = check_project(make_root(Path(tmp), {"fuzz.yaml": text.encode()}))
    assert [d.code for d in diagnostics if "aliases expand" in d.message] == ["E002"]


# --------------------------------------------------------------------------------------------
# 2. Random YAML structures
# --------------------------------------------------------------------------------------------

names = st.sampled_from(FIELD_NAMES + TAG_NAMES + SOURCE_NAMES + COLUMN_NAMES + ["user", "tags", "sources"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=20), names, st.sampled_from(list(VALUE_TYPES) + list(TAG_KINDS) + list(AGGREGATIONS)),
    st.dates(), st.datetimes(),
)
keys = st.one_of(names, st.text(max_size=10), st.integers(-5, 5), st.booleans(), st.none())
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)
documents = st.one_of(
    st.dictionaries(st.sampled_from(["tags", "sources", "entities"]) | st.text(max_size=10),
                    st.lists(st.dictionaries(names, structures, max_size=12), max_size=4) | structures,
                    max_size=3),
    structures,
)


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(doc=documents)
def test_random_yaml_structures_never_crash(doc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    check_text(dump(doc), capsys)


# A tag whose every field is drawn from the values the language knows, plus random ones: deep
# enough to get past the schema into reference, type and SQL checks.
def _sql_like() -> st.SearchStrategy[str]:
    column = st.sampled_from(COLUMN_NAMES + TAG_NAMES + ["snapshot_date", "x"])
    op = st.sampled_from([" + ", " / ", " AND ", " OR ", " >= ", " = ", " IN ", " IS NOT NULL", ", ", " || "])
    func = st.sampled_from(["coalesce(", "count(", "max(", "date_sub(", "reflect(", "transform(", "CAST(",
                            "sum(", "datediff(", "element_at(", "rand(", "current_date(", "lower("])
    atom = st.one_of(column, func, op, st.sampled_from(["(", ")", "'x'", "1", "0.3", "NULL", "x -> x", "*",
                                                        "SELECT ", " FROM ", "orders", " WHERE ", " GROUP BY ",
                                                        " AS value", "; ", "--", "/*", "\n", "`", "\\"]))
    return st.lists(atom, max_size=25).map("".join)


sql_like = _sql_like()
# Expressions and queries as written in the shipped tags: valid ones, to reach the checks after parsing.
SHIPPED_EXPRS = sorted({t[f] for p in TAG_FILES for t in DOCS[p]["tags"] for f in ("expr", "filter") if f in t}
                       | {r["when"] for p in TAG_FILES for t in DOCS[p]["tags"] for r in t.get("rules", [])})
SHIPPED_SQL = sorted(t["sql"] for p in TAG_FILES for t in DOCS[p]["tags"] if "sql" in t)
expr_like = st.sampled_from(SHIPPED_EXPRS) | sql_like
sql_query = st.builds(
    lambda key, value, table, where, group: f"SELECT {key}, {value} AS value FROM {table}{where}{group}",
    st.sampled_from(["user_id", "user_id", "order_id", "*"]), expr_like,
    st.sampled_from(SOURCE_NAMES + ["nope", "db.orders", "(SELECT user_id FROM orders) t", "orders o JOIN users u"]),
    st.sampled_from(["", " WHERE ", " WHERE order_ts >= date_sub(snapshot_date, 29)"]).flatmap(
        lambda w: st.just(w) if not w.endswith(" ") else expr_like.map(lambda c: w + c)),
    st.sampled_from(["", " GROUP BY user_id", " GROUP BY 1 HAVING count(*) > 1", " UNION ALL SELECT 1, 2"]),
) | st.sampled_from(SHIPPED_SQL) | sql_like
common_fields = {
    "name": st.sampled_from(TAG_NAMES) | st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    "display_name": st.text(min_size=1, max_size=5),
    "description": st.just("d"),
    "owner": st.just("o"),
    "category": st.sampled_from(CATEGORIES).map(lambda c: c + "/x") | st.text(max_size=10),
    "type": st.sampled_from(VALUE_TYPES),
}
plain_values = st.one_of(st.booleans(), st.integers(-10, 1000), st.floats(), st.text(max_size=8),
                         st.sampled_from(["a", "b", "high", "low", "unknown"]))
optional_fields = {
    "values": st.lists(st.sampled_from(["a", "b", "high", "low", "unknown"]) | st.text(max_size=5), max_size=4),
    "default": plain_values,
    "lifecycle": st.sampled_from(["draft", "active", "deprecated"]),
    "entity": st.sampled_from(["user", "user", "shop"]),
    "pii": st.booleans(),
}
kind_fields: dict[str, tuple[dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]] = {
    "attribute": ({"expr": expr_like}, {}),
    "aggregate": ({"source": st.sampled_from(SOURCE_NAMES + ["nope"]), "agg": st.sampled_from(AGGREGATIONS),
                   "window": st.sampled_from(["all", "7d", "30d", "0d", "3651d", "30", "30D"])},
                  {"column": st.sampled_from(COLUMN_NAMES), "filter": expr_like}),
    "rule": ({"rules": st.lists(st.fixed_dictionaries({"when": expr_like, "then": plain_values}), max_size=3)},
             {"else": plain_values}),
    "derived": ({"expr": expr_like}, {}),
    "sql": ({"sql": sql_query}, {}),
}
# One strategy per kind, with the fields that kind takes: most examples pass the schema and reach
# the reference, type and SQL checks (random structures and mutations cover the schema errors).
tag_like = st.one_of([
    st.fixed_dictionaries({**common_fields, "kind": st.just(kind), **required},
                          optional={**optional_fields, **optional})
    for kind, (required, optional) in kind_fields.items()
])


@FUZZ
@given(tags=st.lists(tag_like, min_size=1, max_size=6))
def test_random_tag_shaped_documents_never_crash(tags: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    check_text(dump({"tags": tags}), capsys)


# --------------------------------------------------------------------------------------------
# 3. Mutations of the shipped definitions
# --------------------------------------------------------------------------------------------

SQL_FIELDS = ("expr", "sql", "filter")
TRICKY_SQL = [
    "", " ", "(", ")", "'", "\"", "`", "--", "/*", ";", "SELECT", "SELECT 1; SELECT 2", "DROP TABLE users",
    "reflect('java.lang.Runtime', 'getRuntime')", "transform(x, y -> y + 1)", "x -> x", "INTERVAL 1 DAY",
    "CAST(x AS", "1 AS value", "(SELECT 1)", "WITH t AS (SELECT user_id, 1 AS value FROM orders) SELECT * FROM t",
    "SELECT user_id, 1 AS value FROM db.orders", "SELECT user_id FROM orders", "unknown_tag_xyz + 1",
    "${user_id}", "{{ user_id }}", "\\", "\x00", "é", "NULL", "*", "snapshot_date", "a.b.c", "1 +", "+ 1",
]


def _edit_text(text: str, data: st.DataObject) -> str:
    """Insert, delete or replace a few characters (character-level mutation of SQL or YAML)."""
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        cut = data.draw(st.integers(0, 5), label="cut")
        insert = data.draw(st.sampled_from(["(", ")", "'", ",", " ", "\n", "\t", ":", "-", "#", "&", "*", "!",
                                            '"', "{", "[", "]", "}", ""]) | st.text(max_size=3), label="insert")
        text = text[:at] + insert + text[at + cut:]
    return text


def _some_tag_name(data: st.DataObject) -> str:
    return data.draw(st.sampled_from(TAG_NAMES) | st.sampled_from(["nope", "x", "snapshot_date", "user_id"])
                     | st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), label="tag name")


def _mutate_entry(entry: dict[str, Any], entries: list[Any], section: str, data: st.DataObject) -> None:
    """Apply one random mutation to one definition (a tag, source or entity mapping)."""
    fields = sorted(entry, key=str) or ["name"]
    fld = data.draw(st.sampled_from(fields), label="field")
    ops: list[str] = ["delete", "set", "rename", "add", "duplicate", "replace_entry", "edit_string"]
    if section == "tags":
        ops += ["kind", "type", "sql", "sql", "ref", "ref", "lifecycle", "window", "agg", "rules", "values"]
    if section == "sources":
        ops += ["columns"]
    op = data.draw(st.sampled_from(ops), label="op")
    if op == "delete":
        entry.pop(fld, None)
    elif op == "set":
        entry[fld] = data.draw(structures, label="value")
    elif op == "rename":
        new = data.draw(st.sampled_from(FIELD_NAMES) | st.just(fld + "s") | st.just(fld.upper()) | st.text(max_size=8),
                        label="new name")
        entry[new] = entry.pop(fld, None)
    elif op == "add":
        entry[data.draw(keys, label="key")] = data.draw(structures, label="value")
    elif op == "duplicate":
        twin = copy.deepcopy(entry)
        if data.draw(st.booleans(), label="rename twin"):
            twin["name"] = data.draw(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), label="twin")
        entries.insert(data.draw(st.integers(0, len(entries)), label="where"), twin)
    elif op == "replace_entry":
        entries[entries.index(entry)] = data.draw(structures, label="entry")
    elif op == "edit_string":
        if isinstance(entry.get(fld), str):
            entry[fld] = _edit_text(entry[fld], data)
    elif op == "kind":
        entry["kind"] = data.draw(st.sampled_from(TAG_KINDS) | scalars, label="kind")
    elif op == "type":
        entry["type"] = data.draw(st.sampled_from(VALUE_TYPES) | st.text(max_size=15) | scalars, label="type")
    elif op == "sql":
        target = data.draw(st.sampled_from([f for f in (*SQL_FIELDS, "rules") if f in entry] or ["expr"]),
                           label="sql field")
        if target == "rules" and isinstance(entry["rules"], list) and entry["rules"]:
            case = data.draw(st.sampled_from(entry["rules"]), label="case")
            if isinstance(case, dict) and isinstance(case.get("when"), str):
                case["when"] = _edit_text(case["when"], data)
            return
        how = data.draw(st.sampled_from(["edit", "random", "tricky", "soup"]), label="how")
        old = entry.get(target) if isinstance(entry.get(target), str) else ""
        entry[target] = {
            "edit": lambda: _edit_text(old, data),
            "random": lambda: data.draw(st.text(max_size=40), label="sql text"),
            "tricky": lambda: data.draw(st.sampled_from(TRICKY_SQL + SHIPPED_EXPRS + SHIPPED_SQL), label="tricky"),
            "soup": lambda: data.draw(sql_like, label="soup"),
        }[how]()
    elif op == "ref":
        ref = _some_tag_name(data)
        if entry.get("kind") == "rule" and isinstance(entry.get("rules"), list) and entry["rules"]:
            entry["rules"].insert(0, {"when": f"{ref} IS NULL", "then": entry["rules"][0].get("then", "x")
                                      if isinstance(entry["rules"][0], dict) else "x"})
        else:
            entry["kind"] = "derived"
            for f in ("source", "agg", "column", "window", "filter", "sql"):
                entry.pop(f, None)
            old = entry.get("expr")
            entry["expr"] = f"{ref} + 1" if not isinstance(old, str) else f"coalesce({old}, {ref})"
    elif op == "lifecycle":
        entry["lifecycle"] = data.draw(st.sampled_from(["draft", "active", "deprecated"]) | scalars, label="lifecycle")
    elif op == "window":
        entry["window"] = data.draw(st.sampled_from(["all", "0d", "1d", "3650d", "3651d", "99999d", "7D", "-1d",
                                                     "1.5d", "30 d"]) | scalars, label="window")
    elif op == "agg":
        entry[data.draw(st.sampled_from(["agg", "source", "column"]), label="agg field")] = data.draw(
            st.sampled_from(list(AGGREGATIONS) + SOURCE_NAMES + COLUMN_NAMES) | scalars, label="agg value")
    elif op == "rules":
        entry["rules"] = data.draw(st.lists(st.fixed_dictionaries({"when": sql_like, "then": scalars})
                                            | structures, max_size=3), label="rules")
        entry["else"] = data.draw(scalars, label="else")
    elif op == "values":
        entry["values"] = data.draw(st.lists(st.text(max_size=6) | scalars, max_size=4) | scalars, label="values")
    elif op == "columns" and isinstance(entry.get("columns"), dict) and entry["columns"]:
        col = data.draw(st.sampled_from(sorted(entry["columns"])), label="column")
        entry["columns"][col] = data.draw(st.sampled_from(["string", "enum", "timestamp", "bigint"])
                                          | st.dictionaries(st.sampled_from(["type", "values", "pii", "x"]),
                                                            structures, max_size=3), label="column type")


def mutate(doc: Any, data: st.DataObject) -> Any:
    """Apply 1-4 random mutations to a parsed definitions file."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        if not isinstance(doc, dict):
            break
        if data.draw(st.integers(0, 19), label="top-level?") == 0:  # rarely: break the top level
            section = data.draw(st.sampled_from(sorted(doc, key=str)), label="section")
            doc[data.draw(st.sampled_from([section, section[:-1], "tag", "Tags"]), label="as")] = doc.pop(section)
            continue
        sections = [s for s in sorted(doc, key=str) if isinstance(doc[s], list) and doc[s]]
        if not sections:
            break
        section = data.draw(st.sampled_from(sections), label="section")
        entries = doc[section]
        index = data.draw(st.integers(0, len(entries) - 1), label="entry")
        if isinstance(entries[index], dict):
            _mutate_entry(entries[index], entries, section, data)
    return doc


def _rel(path: Path) -> str:
    return str(path.relative_to(DEFS))


@FUZZ
@given(target=st.sampled_from(ALL_FILES), data=st.data())
def test_mutated_shipped_file_never_crashes(target: Path, data: st.DataObject,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """One shipped file mutated, next to the shipped sources."""
    text = dump(mutate(DOCS[target], data))
    _note(f"{_rel(target)}:\n{text}")
    check_files({_rel(target): text.encode("utf-8", "surrogatepass")}, capsys)


@settings(FUZZ, max_examples=12 * SCALE)
@given(target=st.sampled_from(TAG_FILES), data=st.data())
def test_mutated_file_in_full_project_never_crashes(target: Path, data: st.DataObject,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """One tag file mutated inside the whole shipped project: cycles, cross-file duplicates, lifecycles."""
    text = dump(mutate(DOCS[target], data))
    _note(f"{_rel(target)}:\n{text}")
    check_files({_rel(target): text.encode("utf-8", "surrogatepass")}, capsys, with_tags=True)


@FUZZ
@given(target=st.sampled_from(ALL_FILES), data=st.data())
def test_text_edited_shipped_file_never_crashes(target: Path, data: st.DataObject,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Character-level edits of the shipped YAML text: broken indentation, quotes, flow syntax."""
    text = _edit_text(TEXTS[target], data)
    _note(f"{_rel(target)}:\n{text}")
    check_files({_rel(target): text.encode("utf-8", "surrogatepass")}, capsys)


# --------------------------------------------------------------------------------------------
# 4. Random audience and scene files
# --------------------------------------------------------------------------------------------

# A small project (the shipped sources and basic tags, plus a double and an array tag) keeps each
# example fast; every value type an audience condition distinguishes is in it.
AUDIENCE_TAG_FILE = DEFS / "tags" / "basic.yaml"
EXTRA_TAGS = {"tags": [
    {"name": "fz_score", "display_name": "s", "description": "d", "owner": "o", "category": "basic/x",
     "kind": "derived", "type": "double", "expr": "age * 1.5"},
    {"name": "fz_categories", "display_name": "c", "description": "d", "owner": "o", "category": "behavior/x",
     "kind": "aggregate", "type": "array<string>", "source": "events", "agg": "distinct_values",
     "column": "category", "window": "30d"},
]}
AUDIENCE_TAGS = {t["name"]: t for t in [*yaml.safe_load(AUDIENCE_TAG_FILE.read_text(encoding="utf-8"))["tags"],
                                        *EXTRA_TAGS["tags"]]}
AUDIENCE_FILES = sorted((DEFS / "audiences").glob("*.yaml"))
AUDIENCE_DOCS = {p: yaml.safe_load(p.read_text(encoding="utf-8")) for p in AUDIENCE_FILES}
OPERATOR_NAMES = ["=", "!=", ">", ">=", "<", "<=", "between", "in", "not_in", "contains", "starts_with", "before",
                  "after", "within_last", "is_null", "is_not_null", "~", "like", ""]
AUDIENCE_NAMES = ["a1", "a2", "a3", "a4"]
LIST_FILES = ["../lists/sales_leads.csv", "../lists/phone_verified_vips.xlsx", "../lists/missing.csv",
              "../../outside.csv", "/etc/passwd", "../lists", "../sources/user.yaml", "", "x\x00.csv"]

described = {
    "display_name": st.sampled_from(["A", "人群"]), "description": st.just("d"), "owner": st.just("o"),
}
described_optional = {
    "entity": st.sampled_from(["user", "user", "shop", "User"]),
    "lifecycle": st.sampled_from(["active", "active", "draft", "deprecated", "gone"]),
}
values_for_tags = st.one_of(
    plain_values, st.dates().map(str), st.sampled_from(["上海", "male", "gold", "2026-01-31", "tier1"]),
    st.lists(plain_values | st.sampled_from(["male", "female", "gold", "beauty"]), max_size=3),
)


def _condition() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.fixed_dictionaries(
        {"tag": st.sampled_from(sorted(AUDIENCE_TAGS) + ["nope", "orders_30d"]),
         "op": st.sampled_from(OPERATOR_NAMES)},
        optional={"value": values_for_tags, "days": st.integers(-2, 4000) | plain_values})
    return leaf | st.fixed_dictionaries({"tag": names}, optional={"op": scalars, "x": scalars})


def _rule_node() -> st.SearchStrategy[Any]:
    refs = st.sampled_from(AUDIENCE_NAMES + ["nope"])
    leaves = st.one_of(_condition(), _condition(), refs.map(lambda n: {"include": n}),
                       refs.map(lambda n: {"exclude": n}), scalars)
    return st.recursive(leaves, lambda c: st.one_of(
        st.lists(c, max_size=4).map(lambda xs: {"all": xs}),
        st.lists(c, max_size=4).map(lambda xs: {"any": xs}),
        c.map(lambda x: {"not": x}),
        st.dictionaries(st.sampled_from(NODE_NAMES), c, min_size=2, max_size=3),
    ), max_leaves=12)


NODE_NAMES = ["all", "any", "not", "include", "exclude", "tag", "op", "value"]
audience_sql = st.builds(
    lambda key, table, where: f"SELECT {key} FROM {table} WHERE {where}",
    st.sampled_from(["user_id", "user_id", "user_id, city", "*", "city"]),
    st.sampled_from(["profile", "profile", "users", "orders", "nope"]),
    st.sampled_from(["age > 30", "city = '上海'", "fz_score >= 2.5", "gender IN ('male')", "nosuch = 1",
                     "reflect('a', 'b') = 1", "${env:HOME} = 1"]) | sql_like,
) | sql_like
list_spec = st.fixed_dictionaries(
    {"file": st.sampled_from(LIST_FILES)},
    optional={"column": st.sampled_from([1, 2, 0, "user_id", "客户编号", "nope"]) | scalars,
              "sheet": st.sampled_from(["VIPs", "Sheet1", "nope"]), "header": st.sampled_from([True, False, "auto", "x"]),
              "max_rows": st.integers(-1, 5) | st.just(1_000_000)})
guardrails = st.fixed_dictionaries({}, optional={
    "min_size": st.integers(-1, 100), "max_size": st.integers(0, 100), "max_change": st.floats(-1, 2),
    "severity": st.sampled_from(["error", "warn", "fatal"])})
audience_like = st.fixed_dictionaries(
    {"name": st.sampled_from(AUDIENCE_NAMES), **described},
    optional={**described_optional, "guardrails": guardrails | scalars,
              "profile_tags": st.lists(st.sampled_from(sorted(AUDIENCE_TAGS) + ["nope"]), max_size=3)},
).flatmap(lambda base: st.sampled_from(["rule", "rule", "list", "sql", "two", "none"]).flatmap(
    lambda how: {
        "rule": _rule_node().map(lambda r: {**base, "rule": r}),
        "list": list_spec.map(lambda s: {**base, "list": s}),
        "sql": audience_sql.map(lambda s: {**base, "sql": s}),
        "two": st.tuples(_rule_node(), audience_sql).map(lambda t: {**base, "rule": t[0], "sql": t[1]}),
        "none": st.just(base),
    }[how]))
@st.composite
def _good_condition(draw: st.DrawFn) -> dict[str, Any]:
    """A condition of the right operator and value type for its tag (to reach the accepting path)."""
    name = draw(st.sampled_from(sorted(AUDIENCE_TAGS)))
    tag = AUDIENCE_TAGS[name]
    kind = tag["type"]
    if draw(st.integers(0, 9)) == 0:
        return {"tag": name, "op": draw(st.sampled_from(["is_null", "is_not_null"]))}
    number = st.integers(-5, 100) if kind == "integer" else st.floats(-5, 100, allow_nan=False)
    date = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2027, 1, 1)).map(str)
    words = st.sampled_from(tag.get("values") or ["上海", "a", "beauty", "x"])
    by_type: dict[str, list[tuple[str, st.SearchStrategy[Any]]]] = {
        "integer": [("=", number), (">=", number), ("<", number), ("in", st.lists(number, min_size=1, max_size=3)),
                    ("between", st.lists(number, min_size=2, max_size=2).map(sorted))],
        "double": [(">", number), ("<=", number), ("between", st.lists(number, min_size=2, max_size=2).map(sorted))],
        "string": [("=", words), ("in", st.lists(words, min_size=1, max_size=3)), ("starts_with", words),
                   ("contains", words)],
        "enum": [("=", words), ("!=", words), ("in", st.lists(words, min_size=1, max_size=3)),
                 ("not_in", st.lists(words, min_size=1, max_size=2))],
        "boolean": [("=", st.booleans()), ("!=", st.booleans())],
        "date": [("before", date), ("after", date), (">=", date),
                 ("between", st.lists(date, min_size=2, max_size=2).map(sorted)), ("within_last", st.just(None))],
        "array<string>": [("contains", st.lists(words, min_size=1, max_size=2))],
    }
    op, values = draw(st.sampled_from(by_type[kind]))
    if op == "within_last":
        return {"tag": name, "op": op, "days": draw(st.integers(1, 365))}
    return {"tag": name, "op": op, "value": draw(values)}


def _good_rule(earlier: list[str]) -> st.SearchStrategy[Any]:
    refs = [st.sampled_from(earlier).map(lambda n, k=k: {k: n}) for k in ("include", "exclude")] if earlier else []
    leaf = st.one_of(_good_condition(), *refs)
    return st.recursive(leaf, lambda c: st.one_of(
        st.lists(c, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(c, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
        c.map(lambda x: {"not": x})), max_leaves=6)


@st.composite
def good_audiences(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Audiences that reference only earlier ones, with well-typed conditions: mostly accepted."""
    out: list[dict[str, Any]] = []
    for name in AUDIENCE_NAMES[:draw(st.integers(1, len(AUDIENCE_NAMES)))]:
        earlier = [a["name"] for a in out]
        how = draw(st.sampled_from(["rule", "rule", "rule", "list", "sql"]))
        spec: dict[str, Any] = {"name": name, "display_name": "A", "description": "d", "owner": "o"}
        if how == "rule":
            spec["rule"] = draw(_good_rule(earlier))
        elif how == "list":
            spec["list"] = {"file": "../lists/sales_leads.csv"}
        else:
            spec["sql"] = draw(st.sampled_from(["SELECT user_id FROM profile WHERE age > 30",
                                                "SELECT user_id FROM users WHERE city = '上海'",
                                                "SELECT user_id FROM profile WHERE fz_score >= 2.5"]))
        if draw(st.booleans()):
            spec["guardrails"] = {"min_size": draw(st.integers(0, 5)), "max_change": 0.5}
        out.append(spec)
    return out


@st.composite
def good_scenes(draw: st.DrawFn, audiences: list[str]) -> list[dict[str, Any]]:
    scenes = []
    for name in ["s1", "s2"][:draw(st.integers(0, 2))]:
        branches = []
        for i, audience in enumerate(draw(st.lists(st.sampled_from(audiences), min_size=1, max_size=3))):
            branch: dict[str, Any] = {"name": f"b{i}", "audience": audience,
                                      "payload": {"template": draw(st.sampled_from(["t1", "t2"]))}}
            if draw(st.booleans()):
                branch["control"] = draw(st.floats(0, 0.5))
                branch["variants"] = [{"name": f"v{j}", "weight": draw(st.floats(0.1, 3))} for j in range(2)]
            branches.append(branch)
        scenes.append({"name": name, "display_name": "S", "description": "d", "owner": "o",
                       "holdout": draw(st.floats(0, 0.5)), "branches": branches})
    return scenes


good_files = good_audiences().flatmap(
    lambda auds: good_scenes([a["name"] for a in auds]).map(lambda scenes: (auds, scenes)))


payloads = st.dictionaries(st.sampled_from(["template", "coupon_id", "x"]), plain_values | structures, max_size=2)
variant = st.fixed_dictionaries({"name": st.sampled_from(["v1", "v2", "v1"])},
                                optional={"weight": st.floats(-1, 3) | scalars, "payload": payloads})
branch = st.fixed_dictionaries(
    {"name": st.sampled_from(["b1", "b2", "b1", "B"]), "audience": st.sampled_from(AUDIENCE_NAMES + ["nope"])},
    optional={"payload": payloads, "control": st.floats(-0.5, 1.5), "variants": st.lists(variant, max_size=3)})
scene_like = st.fixed_dictionaries(
    {"name": st.sampled_from(["s1", "s2"]), **described, "branches": st.lists(branch, max_size=4) | scalars},
    optional={**described_optional, "salt": st.text(max_size=8), "holdout": st.floats(-0.5, 1.5) | scalars})


def check_audience_files(files: dict[str, bytes], capsys: pytest.CaptureFixture[str], *, full: bool = False) -> None:
    """The loader property for audience and scene files; accepted definitions also compile to a manifest."""
    written = b"\n".join(files.values()).decode("utf-8", "replace")
    with tempfile.TemporaryDirectory(prefix="tagfuzz-") as tmp:
        root = make_root(Path(tmp), files, with_tags=full)
        shutil.copytree(DEFS / "lists", root / "lists")
        if not full:
            (root / "tags").mkdir(exist_ok=True)
            shutil.copy(AUDIENCE_TAG_FILE, root / "tags" / AUDIENCE_TAG_FILE.name)
            (root / "tags" / "fz_extra.yaml").write_text(dump(EXTRA_TAGS), encoding="utf-8")
        assert_loader_is_robust(root, capsys, written)
        project, _ = check_project(root)
        if currently_in_test_context():
            event("accepted" if project is not None else "refused")
        if project is not None:  # accepted: it compiles, audiences and scenes included
            manifest = build_manifest(project, root)
            compiled = {a.name for e in manifest.entities for a in e.audiences}
            assert compiled == set(project.audiences.order if project.audiences else ())
            read_manifest(write_manifest(manifest, root.parent / "target"))


# half well-formed (most of them accepted and compiled), half random (refused with diagnostics)
audience_files = good_files | st.tuples(st.lists(audience_like, max_size=4), st.lists(scene_like, max_size=2))


@settings(FUZZ, max_examples=30 * SCALE)
@given(files=audience_files)
def test_random_audience_and_scene_files_never_crash(files: tuple[list[dict[str, Any]], list[dict[str, Any]]],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    audiences, scenes = files
    text = dump({"audiences": audiences, "scenes": scenes})
    _note(f"audiences/fuzz.yaml:\n{text}")
    check_audience_files({"audiences/fuzz.yaml": text.encode("utf-8", "surrogatepass")}, capsys)


@settings(FUZZ, max_examples=4 * SCALE)
@given(target=st.sampled_from(AUDIENCE_FILES), data=st.data())
def test_mutated_shipped_audience_file_never_crashes(target: Path, data: st.DataObject,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """One shipped audience or scene file mutated inside the whole shipped project."""
    doc = mutate(AUDIENCE_DOCS[target], data)
    files = {_rel(p): dump(AUDIENCE_DOCS[p]).encode() for p in AUDIENCE_FILES if p != target}
    files[_rel(target)] = dump(doc).encode("utf-8", "surrogatepass")
    _note(f"{_rel(target)}:\n{files[_rel(target)].decode('utf-8', 'replace')}")
    check_audience_files(files, capsys, full=True)
