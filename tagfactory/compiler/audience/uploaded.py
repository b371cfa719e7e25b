"""List audiences: the uploaded list file read, checked and normalized at compile time."""

from __future__ import annotations

from pathlib import Path

from tagfactory.compiler.audience.context import AudienceContext
from tagfactory.compiler.audience.model import CompiledAudience
from tagfactory.compiler.codes import Code
from tagfactory.compiler.guards import list_path
from tagfactory.compiler.parse import report


def check_list(ctx: AudienceContext, compiled: CompiledAudience) -> None:
    """Read the audience's uploaded list file into ``compiled`` (its normalized identifiers)."""
    # imported here: the loader is pure Python, but keep the compiler's import graph small
    from tagfactory.compiler.lists import ListFileError, read_id_list

    spec = ctx.spec.list_
    assert spec is not None
    base = ctx.item.doc.path.parent if ctx.item.doc.path is not None else Path(ctx.item.file).parent
    resolved, why = list_path(base, ctx.root, spec.file)
    if resolved is None:
        ctx.error(("list", "file"), Code.E413, f"list file: {why}",
                  "keep uploaded lists inside the definitions folder (e.g. tag_definitions/lists/)")
        return
    path = resolved
    entity = ctx.project.entities[ctx.spec.entity].model
    try:
        result = read_id_list(path, column=spec.column, sheet=spec.sheet, header=spec.header,
                              key_type=entity.key_type, key_name=entity.key, max_rows=spec.max_rows,
                              root=ctx.root or base)
    except ListFileError as exc:
        message = str(exc).replace(str(path), spec.file)
        if spec.file not in message:
            message = f"list file {spec.file}: {message}"
        if exc.line and f":{exc.line}" not in message and f"row {exc.line}" not in message:
            message += f" (row {exc.line})"
        ctx.error(("list", "file"), Code.E708, message,
                  exc.hint or "check the file path (relative to this YAML file) and its format")
        return
    for issue in result.malformed[:5]:
        report(ctx.item, ("list", "file"), Code.W708, f"audience `{ctx.spec.name}`: {spec.file}:{issue.line}: "
               f"{issue.reason}: `{issue.value}` (skipped)", "fix or remove the row", ctx.sink, warning=True)
    if result.malformed_count > 5:
        report(ctx.item, ("list", "file"), Code.W708, f"audience `{ctx.spec.name}`: {spec.file}: "
               f"{result.malformed_count - 5} more malformed rows skipped", "", ctx.sink, warning=True)
    compiled.list_file = str(path)
    compiled.list_ids = result.ids
    compiled.list_options = {"column": spec.column, "sheet": spec.sheet, "header": spec.header,
                             "max_rows": spec.max_rows, "ids": len(result.ids),
                             "duplicates": result.duplicates, "malformed": result.malformed_count}
