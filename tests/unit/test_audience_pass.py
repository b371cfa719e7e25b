"""The compiled one-pass audience query (no Spark): shape, placeholders, decode table, references."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.audience.model import AUDIENCE_REF, CompiledAudience, ext_lookup
from tagfactory.compiler.audience.references import resolve_tree
from tagfactory.compiler.audience_pass import INPUT_VIEW, PassAudience, pass_query
from tagfactory.compiler.manifest import Audience, Entity, write_manifest
from tagfactory.compiler.project import load_project
from tagfactory.compiler.sqlpolicy import PolicyError, check_compiled, check_emitted, check_tree
from tests.unit.definitions import REPO


@pytest.fixture(scope="module")
def entity() -> Entity:
    project, _ = load_project(REPO / "tag_definitions")
    return build_manifest(project, REPO / "tag_definitions").entities[0]


def _tree(entity: Entity) -> exp.Select:
    assert entity.audiences_sql is not None
    tree = sqlglot.parse_one(entity.audiences_sql, read="spark")
    assert isinstance(tree, exp.Select)
    return tree


def _words(tree: exp.Select) -> list[list[exp.If]]:
    """The IF terms of each packed word, in bit order (read from the query itself)."""
    array = next(a for a in tree.find_all(exp.Array) if a.find_ancestor(exp.Values) is None)
    out = []
    for word in array.expressions:
        terms: list[exp.If] = []
        node = word
        while isinstance(node, exp.BitwiseOr):
            assert isinstance(node.expression, exp.If)
            terms.insert(0, node.expression)
            node = node.this
        assert isinstance(node, exp.If)
        terms.insert(0, node)
        out.append(terms)
    return out


def _expected(audience: Audience) -> str:
    """The condition an audience's term must hold: its resolved condition, or the `_ext` lookup."""
    if audience.kind == "rule":
        assert audience.condition is not None
        return audience.condition
    return f"COALESCE(ARRAY_CONTAINS(`_ext`, '{audience.name}'), FALSE)"


def _same(a: exp.Expression | str, b: exp.Expression | str) -> bool:
    def parse(x: exp.Expression | str) -> exp.Expression:
        return sqlglot.parse_one(x, read="spark") if isinstance(x, str) else x
    return parse(a) == parse(b)


def test_the_pass_parses_back_and_reads_the_input_view(entity: Entity, tmp_path: Path) -> None:
    tree = _tree(entity)
    assert [t.name for t in tree.find_all(exp.Table) if not isinstance(t.parent, exp.JoinHint)] == [INPUT_VIEW]
    assert tree.named_selects == ["audience", entity.key]
    hint = tree.args["hint"].expressions[0]
    assert isinstance(hint, exp.JoinHint) and str(hint.this).upper() == "BROADCAST"
    assert "`user_id`" in entity.audiences_sql  # identifiers quoted, like the profile query
    check_compiled(tree, {INPUT_VIEW}, "test", one_pass=len(entity.audiences))  # passes the policy, reparsed
    write_manifest(build_manifest(load_project(REPO / "tag_definitions")[0], REPO / "tag_definitions"),
                   tmp_path / "target")
    written = (tmp_path / "target" / "compiled" / entity.name / "audiences.sql").read_text(encoding="utf-8")
    assert written == entity.audiences_sql + "\n"


def test_every_audience_is_one_term_once_with_its_placeholders(entity: Entity) -> None:
    tree = _tree(entity)
    terms = [t for word in _words(tree) for t in word]
    assert len(terms) == len(entity.audiences)
    for term, audience in zip(terms, entity.audiences, strict=True):
        assert _same(term.this, _expected(audience)), audience.name
        assert term.args["false"] == exp.Literal.number(0)
    # the parameter stays a placeholder, once per use in the conditions (nothing bound at compile time)
    uses = sum(str(a.condition).count(":snapshot_date") for a in entity.audiences if a.kind == "rule")
    assert uses > 0
    assert len(list(tree.find_all(exp.Placeholder))) == uses == entity.audiences_sql.count(":snapshot_date")
    assert "DATE '" not in entity.audiences_sql


def test_the_decode_table_decodes_every_word_value_to_its_audiences(entity: Entity) -> None:
    tree = _tree(entity)
    # bit -> audience of each word, from the terms' THEN values and their conditions
    names_of: dict[tuple[int, int], str] = {}
    for w, word in enumerate(_words(tree)):
        for term in word:
            bit = int(term.args["true"].this).bit_length() - 1
            assert int(term.args["true"].this) == 1 << bit
            matched = [a.name for a in entity.audiences if _same(term.this, _expected(a))]
            assert len(matched) == 1
            names_of[(w, bit)] = matched[0]
    values = tree.find(exp.Values)
    assert values is not None
    assert [c.name for c in values.args["alias"].columns] == ["_word", "_value", "_names"]
    seen = set()
    for row in values.expressions:
        w, v, names = row.expressions
        word, value = int(w.this), int(v.this)
        expected = [names_of[(word, b)] for b in range(value.bit_length()) if value >> b & 1]
        assert [n.this for n in names.expressions] == expected, (word, value)
        seen.add((word, value))
    bits: dict[int, int] = {}
    for (w, _bit) in names_of:
        bits[w] = bits.get(w, 0) + 1
    assert seen == {(w, v) for w, n in bits.items() for v in range(1, 1 << n)}  # every non-zero value, once
    assert sorted(names_of.values()) == sorted(a.name for a in entity.audiences)


def _rule(name: str, tree: exp.Expression) -> CompiledAudience:
    return CompiledAudience(name, "rule", "user", condition=tree.sql(dialect="spark"), tree=tree)


def _ref(name: str) -> exp.Expression:
    node = ext_lookup(name)
    node.meta[AUDIENCE_REF] = name
    return node


def test_references_are_resolved_by_the_reference_map_not_by_shape() -> None:
    compiled = {
        "base": _rule("base", sqlglot.parse_one("`orders_30d` >= 3", read="spark")),
        "vips": CompiledAudience("vips", "list", "user"),
        "bought": CompiledAudience("bought", "sql", "user", sql="SELECT user_id FROM profile"),
        # an include of a rule audience, an exclude of a list audience, an include of a SQL audience, and
        # a hand-written lookup of `base` with the same shape but no reference mark
        "top": _rule("top", exp.and_(exp.Paren(this=_ref("base")), exp.Not(this=exp.Paren(this=_ref("vips"))),
                                     _ref("bought"), ext_lookup("base"))),
    }
    out = resolve_tree(compiled, "top")
    text = out.sql(dialect="spark")
    assert "((`orders_30d` >= 3))" in text  # the rule audience is inlined where it was referenced
    assert text.count("ARRAY_CONTAINS(_ext, 'base')") == 1  # only the unmarked node stays a lookup
    assert "NOT (COALESCE(ARRAY_CONTAINS(_ext, 'vips'), FALSE))" in text  # list audience: the _ext lookup
    assert "COALESCE(ARRAY_CONTAINS(_ext, 'bought'), FALSE)" in text  # sql audience: the _ext lookup
    assert compiled["top"].tree is not None and "orders_30d" not in compiled["top"].tree.sql()  # not mutated


def test_the_shipped_include_of_a_rule_audience_is_inlined(entity: Entity) -> None:
    project, _ = load_project(REPO / "tag_definitions")
    assert project is not None and project.audiences is not None
    compiled = project.audiences.compiled
    winback = compiled["winback_push"]
    assert winback.tree is not None
    marked = {n.meta[AUDIENCE_REF] for n in winback.tree.walk() if n._meta and AUDIENCE_REF in n.meta}  # noqa: SLF001
    assert marked == set(winback.refs) >= {"churn_risk_browsers", "phone_verified_vips"}
    text = resolve_tree(compiled, "winback_push").sql(dialect="spark")
    for ref in winback.refs:  # a rule audience is inlined, a list or SQL audience stays an _ext lookup
        assert (f"ARRAY_CONTAINS(_ext, '{ref}')" in text) == (compiled[ref].kind != "rule"), ref
    assert compiled["churn_risk_browsers"].kind == "rule" and compiled["phone_verified_vips"].kind == "list"


def test_decode_table_hint_and_generator_alias_are_for_the_compiled_pass_only() -> None:
    query = pass_query("user_id", [PassAudience("a", sqlglot.parse_one("x > 1", read="spark")), PassAudience("b")])
    assert not check_emitted(query, {INPUT_VIEW}, set(), one_pass=2)
    refused = {v.message for v in check_emitted(query, {INPUT_VIEW}, set())}
    assert any("VALUES" in m for m in refused) and any("hint" in m for m in refused)
    assert check_tree(query, query=True)  # never in a definition
    with pytest.raises(PolicyError):
        check_compiled(query, {INPUT_VIEW}, "test")
    # even in the pass: a VALUES table of anything but literals, or another hint, is refused
    bad = query.copy()
    bad.find(exp.Values).expressions[0].expressions[2] = exp.column("secret")  # type: ignore[union-attr]
    assert any("literals only" in v.message for v in check_emitted(bad, {INPUT_VIEW}, set(), one_pass=2))
    bad = query.copy()
    bad.args["hint"].expressions[0].set("this", "REPARTITION")
    assert any("hint" in v.message for v in check_emitted(bad, {INPUT_VIEW}, set(), one_pass=2))
