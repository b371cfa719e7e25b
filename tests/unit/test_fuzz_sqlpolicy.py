"""Random sqlglot trees through validate and compile: accepted and compiled, or refused, located.

Hypothesis builds expression trees from the grammar (columns the sources declare and columns they
do not, literals of every size, functions from the allow-list and the deny-list, operators,
CASE, CAST, lambdas, subqueries, script transforms ...), renders them as Spark SQL and puts them
in an attribute tag, a sql tag, an aggregate filter and a SQL audience. For every one: validate
either accepts (then compile produces SQL that sqlglot parses again for Spark and that the
policy accepts) or rejects with located diagnostics; never a traceback, never a timeout.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import sqlglot
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tagfactory.compiler.compile import compile_project
from tagfactory.compiler.diagnostics import CODES
from tagfactory.compiler.functions import ALLOWED, DENIED
from tagfactory.compiler.project import check_project
from tests.unit.definitions import REPO

USER_COLUMNS = ["city", "gender", "member_level", "phone_verified", "registered_at", "birthday"]
ORDER_COLUMNS = ["amount", "status", "channel", "order_ts"]
FUNCTIONS = sorted(ALLOWED - {"case", "when", "in", "not", "between", "cast"})


def _literal() -> st.SearchStrategy[exp.Expression]:
    return st.one_of(
        st.integers(-(10**45), 10**45).map(lambda n: exp.Literal.number(n)),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda f: exp.Literal.number(repr(f))),
        st.text(max_size=12).map(exp.Literal.string),
        st.sampled_from(["${env:HOME}", "${system:user.home}", "x", "completed"]).map(exp.Literal.string),
        st.booleans().map(lambda b: exp.Boolean(this=b)),
        st.just(exp.null()),
    )


def _column(columns: list[str]) -> st.SearchStrategy[exp.Expression]:
    names = st.sampled_from([*columns, "nosuch", "_metadata", "snapshot_date"])
    return st.one_of(names.map(exp.column),
                     st.tuples(names, st.sampled_from(["users", "orders", "x"])).map(lambda p: exp.column(p[0], p[1])))


def _hostile() -> st.SearchStrategy[exp.Expression]:
    return st.sampled_from([
        "(SELECT max(amount) FROM orders)", "EXISTS(SELECT 1 FROM users)", "@@spark_version", "?",
        "TRANSFORM(city) USING 'sh'", "explode(sequence(1, 2000000000))", "repeat(city, 1000000000)",
        "current_user()", "reflect('java.lang.System', 'getenv', 'HOME')", "count(*)",
        "row_number() OVER (ORDER BY city)", "x -> users._metadata.file_path",
    ]).map(lambda text: exp.Var(this=text))  # rendered verbatim


def _tree(columns: list[str]) -> st.SearchStrategy[exp.Expression]:
    leaves = st.one_of(_literal(), _column(columns), _column(columns), _hostile())

    def extend(children: st.SearchStrategy[exp.Expression]) -> st.SearchStrategy[exp.Expression]:
        binary = st.tuples(st.sampled_from([exp.Add, exp.Sub, exp.Mul, exp.Div, exp.EQ, exp.GT, exp.LTE, exp.And,
                                            exp.Or, exp.DPipe, exp.NullSafeEQ, exp.Like]), children, children)
        call = st.tuples(st.sampled_from(FUNCTIONS + sorted(DENIED) + ["my_udf"]),
                         st.lists(children, max_size=3))
        case = st.tuples(children, children, children)
        lam = st.tuples(st.sampled_from(["transform", "filter", "exists"]), children, children)
        return st.one_of(
            binary.map(lambda t: t[0](this=t[1], expression=t[2])),
            call.map(lambda t: exp.Anonymous(this=t[0], expressions=t[1])),
            case.map(lambda t: exp.Case(ifs=[exp.If(this=t[0], true=t[1])], default=t[2])),
            children.map(lambda c: exp.Paren(this=c)),
            children.map(lambda c: exp.Not(this=c)),
            st.tuples(children, st.sampled_from(["BIGINT", "STRING", "DOUBLE", "DATE"])).map(
                lambda t: exp.cast(t[0], t[1])),
            lam.map(lambda t: exp.Anonymous(this=t[0], expressions=[
                exp.Array(expressions=[t[1]]),
                exp.Lambda(this=t[2], expressions=[exp.to_identifier("city")])])),
        )

    return st.recursive(leaves, extend, max_leaves=30)


def _definitions(attribute: str, sql_value: str, filter_: str, audience_where: str) -> dict:
    common = {"display_name": "F", "description": "d", "owner": "o", "category": "risk"}
    return {
        "tags": [
            {"name": "f_attr", **common, "type": "string", "kind": "attribute", "expr": attribute},
            {"name": "f_sql", **common, "type": "string", "kind": "sql",
             "sql": f"SELECT user_id, {sql_value} AS v FROM users"},
            {"name": "f_agg", **common, "type": "integer", "kind": "aggregate", "source": "orders",
             "agg": "count", "window": "30d", "filter": filter_},
        ],
        "audiences": [{"name": "f_aud", "display_name": "F", "description": "d", "owner": "o",
                       "sql": f"SELECT user_id FROM users WHERE {audience_where}"}],
    }


def _sql(tree: exp.Expression) -> str:
    try:
        return tree.sql(dialect="spark")
    except Exception:  # a combination sqlglot cannot render: still a string validate must survive
        return repr(tree)[:500]


_ROOT = Path(tempfile.mkdtemp(prefix="tagfactory-fuzz-policy-")) / "tag_definitions"
shutil.copytree(REPO / "tag_definitions" / "sources", _ROOT / "sources")


POSITIONS = ("attribute", "sql", "filter", "audience")
_SAFE = {"attribute": "upper(city)", "sql": "city", "filter": "amount > 0", "audience": "city = 'x'"}


def _small(columns: list[str]) -> st.SearchStrategy[exp.Expression]:
    """Mostly well-formed trees, so that the accepting path is exercised too."""
    leaf = st.one_of(st.sampled_from(columns).map(exp.column), st.integers(-5, 5).map(exp.Literal.number),
                     st.sampled_from(["a", "completed"]).map(exp.Literal.string))
    return st.recursive(leaf, lambda c: st.one_of(
        st.tuples(st.sampled_from([exp.EQ, exp.GT, exp.And, exp.Or, exp.Add]), c, c).map(
            lambda t: t[0](this=t[1], expression=t[2])),
        st.tuples(st.sampled_from(["coalesce", "upper", "concat", "abs", "greatest", "nvl"]), st.lists(c, min_size=1,
                  max_size=2)).map(lambda t: exp.Anonymous(this=t[0], expressions=t[1]))), max_leaves=8)


def compiled_or_refused(position: str, tree: exp.Expression) -> list[str]:
    """Validate definitions holding ``tree`` at ``position``; the compiled SQL when accepted, [] when refused.

    Asserts what must hold either way (a hang is caught by the test's timeout mark, not by a wall-clock
    assertion that a busy machine would fail): every diagnostic is located
    with a known code and no traceback, a refusal has an error, and compile re-checks its output.
    """
    snippets = {**_SAFE, position: _sql(tree)}
    doc = _definitions(snippets["attribute"], snippets["sql"], snippets["filter"], snippets["audience"])
    (_ROOT / "fuzz.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    project, diagnostics = check_project(_ROOT)
    for diag in diagnostics:
        assert diag.code in CODES or diag.code.startswith(("E7", "W7")), diag
        assert diag.line > 0 and diag.file.endswith(".yaml"), diag.format()
        assert "Traceback" not in diag.message
    if project is None:
        assert any(d.severity.value == "error" for d in diagnostics)
        return []
    return [entity.sql for entity in compile_project(project).values()]  # compile re-checks what it emits


def random_tree(position: str, data: st.DataObject) -> exp.Expression:
    """A random tree for ``position`` (hostile, allowed and well-formed ones mixed)."""
    columns = ORDER_COLUMNS if position == "filter" else USER_COLUMNS
    return data.draw(st.one_of(_tree(columns), _small(columns)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(POSITIONS), st.data())
def test_random_trees_are_compiled_or_refused_with_a_location(position: str, data: st.DataObject) -> None:
    compiled = compiled_or_refused(position, random_tree(position, data))
    event("accepted" if compiled else "refused")
    for sql in compiled:
        assert sqlglot.parse_one(sql, read="spark") is not None
