"""The SQL policy (compiler/sqlpolicy.py) and the run-time defences of issue 13."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.compile import compile_project
from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.expectations import MODELS, kwargs_problems, validated_kwargs
from tagfactory.compiler.expressions import parse_expression, parse_select
from tagfactory.compiler.lists import ListFileError, read_id_list
from tagfactory.compiler.lists import rows as list_rows
from tagfactory.compiler.manifest import ManifestDigestError, read_manifest, write_manifest
from tagfactory.compiler.project import load_project
from tagfactory.compiler.quality import GX_EXPECTATIONS
from tagfactory.compiler.sqlpolicy import (
    MAX_DEPTH,
    PolicyError,
    check_compiled,
    check_emitted,
    check_shape,
    check_text,
    check_tree,
)
from tagfactory.compiler.yamlload import Loc
from tagfactory.settings import load_settings
from tests.unit.definitions import REPO

DEFINITIONS = REPO / "tag_definitions"


@pytest.fixture(scope="module")
def project():  # type: ignore[no-untyped-def]
    return load_project(DEFINITIONS)[0]


def test_the_whole_repository_compiles_to_sql_the_policy_accepts(project) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_project(project)
    assert compiled
    for entity in compiled.values():
        tree = sqlglot.parse_one(entity.sql, read="spark")
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        assert check_emitted(tree, set(project.sources), ctes) == []
        assert "${" not in entity.sql
        for tag, sql in entity.tag_sql.items():
            standalone = sqlglot.parse_one(sql, read="spark")
            # review SQL of one tag: reads the profile and the point-in-time cuts by name
            ctes = {c.alias_or_name for c in standalone.find_all(exp.CTE)} | {"profile"}
            ctes |= {f"pit_{s}" for s in project.sources}
            assert check_emitted(standalone, set(project.sources), ctes) == [], tag
    assert project.audiences is not None
    for name, audience in project.audiences.compiled.items():
        for text in (audience.condition, audience.sql):
            if text:
                tree = sqlglot.parse_one(text, read="spark")
                assert check_emitted(tree, {"profile", *project.sources},
                                     {c.alias_or_name for c in tree.find_all(exp.CTE)}) == [], name


def test_the_compiler_refuses_what_it_should_never_emit() -> None:
    bad = sqlglot.parse_one("SELECT TRANSFORM(a) USING 'sh' AS (b) FROM users", read="spark")
    with pytest.raises(PolicyError, match="script transform"):
        check_compiled(bad, {"users"}, "entity `user`")
    with pytest.raises(PolicyError, match="E403"):
        check_compiled(sqlglot.parse_one("SELECT a FROM secrets", read="spark"), {"users"}, "x")
    with pytest.raises(PolicyError, match="E407"):
        check_compiled(sqlglot.parse_one("SELECT '${env:HOME}' FROM users", read="spark"), {"users"}, "x")
    with pytest.raises(PolicyError, match="comment"):
        check_compiled(sqlglot.parse_one("SELECT a /* x */ FROM users", read="spark"), {"users"}, "x")


@pytest.mark.parametrize("text", [
    "x" * 20_001, "a" + " + a" * 2500, "(" * 30 + "1" + ")" * 30,
    "CASE WHEN a THEN " * 30 + "1" + " END" * 30, "'${env:HOME}'", "a\x00",
])
def test_text_limits_apply_before_parsing(text: str) -> None:
    assert check_text(text), text


def test_shape_counts_operator_chains_as_one_level() -> None:
    chain = sqlglot.parse_one("SELECT " + " AND ".join(["a > 1"] * 500), read="spark")
    assert check_shape(chain) is None
    deep = exp.column("a")
    for _ in range(MAX_DEPTH + 1):
        deep = exp.Abs(this=deep)
    assert check_shape(deep) is not None


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT a FROM t DISTRIBUTE BY a", "E406"),  # a subclass of ORDER BY is another construct
    ("SELECT a FROM t CLUSTER BY a", "E406"),
    ("SELECT a FROM t SORT BY a", "E406"),
    ("SELECT a FROM VALUES (1) AS v(a)", "E406"),
    ("SELECT a FROM read_files('/etc')", "E406"),
    ("SELECT a FROM t PIVOT (sum(x) FOR y IN (1))", "E406"),
    ("SELECT @@x FROM t", "E406"),
    ("SELECT repeat(a, 100001) FROM t", "E409"),
    ("SELECT sequence(1, 10000000) FROM t", "E409"),
    ("SELECT 1e400 FROM t", "E409"),
])
def test_queries_outside_the_allow_list(sql: str, code: str) -> None:
    found = check_tree(sqlglot.parse_one(sql, read="spark"), query=True, text=sql)
    assert code in {v.code for v in found}, found


@pytest.mark.parametrize(("text", "select"), [
    ("floor()", False), ("ceil(amount) + floor()", False),
    ("SELECT user_id, ceil() AS v FROM orders", True),
])
def test_a_call_without_its_required_argument_is_refused_with_the_function_named(text: str, select: bool) -> None:
    # sqlglot's parser accepts `floor()` / `ceil()` without checking arity; its type annotator then crashed
    # on them (found by test_fuzz_sqlpolicy): the compiler refuses them at the definition's position
    sink = DiagnosticSink()
    parse = parse_select if select else parse_expression
    assert parse(text, "expr", Loc(7, 9), "tags/t.yaml", sink) is None
    [error] = sink.errors
    assert (error.file, error.line, error.col, error.code) == ("tags/t.yaml", 7, 9, "E401")
    assert error.message in ("expr calls `floor()` with no arguments; `floor` needs at least 1",
                             "expr calls `ceil()` with no arguments; `ceil` needs at least 1")


def test_allowed_constructs_pass() -> None:
    sql = ("WITH o AS (SELECT user_id, amount FROM orders WHERE amount > 0) "
           "SELECT user_id, max(amount) OVER (PARTITION BY user_id ORDER BY amount) AS v FROM o "
           "UNION ALL SELECT user_id, count(*) AS v FROM orders GROUP BY user_id HAVING count(*) > 1")
    assert check_tree(sqlglot.parse_one(sql, read="spark"), query=True, text=sql) == []
    expr = "transform(filter(array(a, b), x -> x > 0), x -> x * 2)[0] + repeat('a', 3) IS NOT NULL"
    assert check_tree(sqlglot.parse_one("SELECT " + expr, read="spark").expressions[0], query=False) == []


def test_manifest_with_a_changed_sql_is_refused(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_manifest(build_manifest(project, DEFINITIONS), tmp_path)
    assert read_manifest(path).digest
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["entities"][0]["sql"] += " UNION ALL SELECT TRANSFORM(user_id) USING 'sh' FROM users"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ManifestDigestError, match=str(path).replace("/", ".")):
        read_manifest(path)


@pytest.mark.parametrize("path", ["../etc", "/etc/passwd", "s3a://bucket/x", "a/../../b", "file:/x", "a\x00"])
def test_source_uri_keeps_definition_paths_inside_the_root(path: str) -> None:
    settings = load_settings(overrides={"sources_root": "/data/ods"})
    assert settings.source_uri("orders") == "/data/ods/orders"
    with pytest.raises(ValueError, match="sources_root"):
        settings.source_uri(path)


def test_list_reader_contains_paths_and_bounds_workbooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "defs"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("s1\n", encoding="utf-8")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ListFileError, match="leaves"):
        read_id_list(root / "link.txt", root=root)
    with pytest.raises(ListFileError, match="leaves"):
        read_id_list(root / ".." / "secret.txt", root=root)
    with pytest.raises(ListFileError, match="NUL"):
        read_id_list(str(root / "a\x00.txt"), root=root)
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    for i in range(1, 40):
        sheet.cell(row=i, column=1, value=f"u{i}")
    book.save(root / "rows.xlsx")
    monkeypatch.setattr(list_rows, "XLSX_MAX_ROWS", 10)
    with pytest.raises(ListFileError, match="more than 10 rows"):
        read_id_list(root / "rows.xlsx", root=root)


def test_every_typed_expectation_is_a_known_type() -> None:
    assert set(MODELS) <= GX_EXPECTATIONS
    assert kwargs_problems("expect_column_values_to_be_between", {"column": "x", "min_value": 0}) == []
    with pytest.raises(ValueError, match="row_condition"):
        validated_kwargs("expect_column_values_to_not_be_null", {"column": "x", "row_condition": "1=1"})


@pytest.mark.timeout(120)
def test_long_chains_and_deeply_inlined_audiences_are_refused_without_hanging(tmp_path: Path) -> None:
    import shutil

    import yaml

    from tagfactory.compiler.project import check_project

    root = tmp_path / "tag_definitions"
    shutil.copytree(DEFINITIONS / "sources", root / "sources")
    common = {"display_name": "C", "description": "d", "owner": "o"}
    chain = " AND ".join(["city = 'x'"] * 990)  # just under the token limit
    tags = [
        {"name": "c1", **common, "category": "risk", "type": "boolean", "kind": "attribute", "expr": chain},
        {"name": "c2", **common, "category": "risk", "type": "integer", "kind": "sql",
         "sql": f"SELECT user_id, count(*) AS v FROM users WHERE {chain} GROUP BY user_id"},
        {"name": "c3", **common, "category": "risk", "type": "boolean", "kind": "attribute",
         "expr": " XOR ".join(["phone_verified"] * 900)},
    ]

    def deep(n: int, leaf: dict) -> dict:
        for _ in range(n):
            leaf = {"not": leaf}
        return leaf

    audiences = [{"name": f"d{i}", **common, "rule": deep(60, {"include": f"d{i + 1}"} if i < 5 else
                                                          {"tag": "c1", "op": "=", "value": True})} for i in range(6)]
    (root / "x.yaml").write_text(yaml.safe_dump({"tags": tags, "audiences": audiences}), encoding="utf-8")
    project, diagnostics = check_project(root)  # a hang fails by the timeout mark, not a wall-clock bound
    assert project is None
    got = {(d.code, d.message.split(":")[0]) for d in diagnostics}
    # every audience whose inlined condition is too deep is refused (not only the first one found)
    assert {("E408", f"audience `d{i}`") for i in range(5)} <= got
    assert {("E406", "tag `c3`"), ("E401", "tag `c3`")} & got  # XOR is not Spark SQL, nor on the list
    assert not any(d.message.startswith(("tag `c1`", "tag `c2`")) for d in diagnostics)


def test_the_gate_refuses_conditions_whatever_their_origin() -> None:
    pytest.importorskip("great_expectations")
    from tagfactory.quality.gx_bridge import ExpectationSpec, build_suite
    from tagfactory.quality.suites import source_specs

    spec = ExpectationSpec("expect_column_values_to_not_be_null",
                           {"column": "a", "row_condition": 'col("a") > 0', "condition_parser": "spark"})
    with pytest.raises(ValueError, match="conditions are code"):
        build_suite("s", [spec])
    from tagfactory.compiler.manifest import Source

    source = Source.model_validate({
        "name": "x", "kind": "fact", "path": "x", "format": "parquet", "entity_key": "k", "columns": [],
        "quality": {"expectations": [{"type": "expect_column_values_to_not_be_null",
                                      "kwargs": {"column": "k", "row_condition": "1 = 1"}}]}})
    with pytest.raises(ValueError, match="row_condition"):
        source_specs(source)


def test_the_node_limit_scales_with_the_compilers_own_query_not_with_snippets(tmp_path: Path) -> None:
    import shutil

    import yaml

    from tagfactory.compiler.project import check_project

    # the compiler's query over many tags is bigger than any one snippet may be: its limit scales
    wide = sqlglot.parse_one("SELECT " + ", ".join(f"coalesce(a{i}, 0) + 1 AS t{i}" for i in range(1500))
                             + " FROM users", read="spark")
    assert check_shape(wide) is not None
    with pytest.raises(PolicyError, match="E408"):
        check_compiled(wide, {"users"}, "entity `user`")
    check_compiled(wide, {"users"}, "entity `user`", parts=1500)
    # untrusted snippets keep the fixed limits (text before parsing, then the tree)
    assert check_shape(wide.expressions[0]) is None
    root = tmp_path / "tag_definitions"
    shutil.copytree(DEFINITIONS / "sources", root / "sources")
    common = {"display_name": "H", "description": "d", "owner": "o", "category": "risk"}
    tags = [
        {"name": "h1", **common, "type": "integer", "kind": "attribute", "expr": " + ".join(["age"] * 2100)},
        {"name": "h2", **common, "type": "integer", "kind": "sql",
         "sql": "SELECT user_id, " + " + ".join(["1"] * 12_000) + " AS v FROM users"},
    ]
    (root / "x.yaml").write_text(yaml.safe_dump({"tags": tags}), encoding="utf-8")
    project, diagnostics = check_project(root)
    assert project is None
    got = {(d.code, d.message.split(":")[0]) for d in diagnostics}
    assert {("E408", "tag `h1`"), ("E408", "tag `h2`")} <= got, got


def test_a_not_under_an_operator_is_parenthesized_for_spark() -> None:
    """sqlglot prints ``0 + NOT 0`` as it parsed it; Spark's grammar only parses ``0 + (NOT 0)``."""
    import sqlglot

    from tagfactory.compiler.sqlbuild import to_sql

    assert to_sql(sqlglot.parse_one("0 + NOT 0", read="spark"), pretty=False) == "0 + (NOT 0)"
    assert to_sql(sqlglot.parse_one("a = NOT b", read="spark"), pretty=False) == "`a` = (NOT `b`)"
    assert to_sql(sqlglot.parse_one("NOT a AND NOT b", read="spark"), pretty=False) == "NOT `a` AND NOT `b`"
