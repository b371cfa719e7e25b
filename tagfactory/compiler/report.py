"""Render a :class:`PlanDiff` (and an optional data preview) as text, Markdown or JSON.

The Markdown form is what the pull-request workflow posts as a comment: a summary line, a table
of changed tags, breaking changes, downstream impact, the preview and the SQL diffs folded in
``<details>`` blocks.
"""

from __future__ import annotations

import json
from typing import Any

from tagfactory.compiler.diff import PlanDiff, TagChange

MARKER = "<!-- tagfactory-plan -->"  # lets the CI workflow update its own comment


def _summary(diff: PlanDiff) -> str:
    if diff.errors:
        return f"the change is invalid: {len(diff.errors)} errors (fix them; the plan is shown when it validates)"
    data = diff.to_dict()["summary"]
    parts = [f"{data[k]} {k}" for k in ("added", "modified", "renamed", "removed") if data[k]]
    text = ", ".join(parts) if parts else "no tag changes"
    text += f"; {data['sql_changed']} compiled queries changed; {data['breaking']} breaking; " \
            f"{data['affected_downstream']} downstream tags affected; {data['unchanged']} unchanged"
    return text


def _fields(change: TagChange) -> str:
    if change.change in ("added", "removed"):
        return ""
    return ", ".join(change.fields)


def render_text(diff: PlanDiff, preview: dict[str, Any] | None = None, *, show_sql: bool = True) -> str:
    """Plain text for a terminal."""
    out = [f"plan: {diff.base} -> {diff.head}", _summary(diff), ""]
    for d in diff.diagnostics:
        out.append(d.format())
    if diff.diagnostics:
        out.append("")
    for c in diff.tags:
        label = c.change + (f" from {c.renamed_from}" if c.renamed_from else "")
        sql = "sql changed" if c.sql_changed else "sql unchanged"
        line = f"  {c.name:<32} {label:<20} {sql:<14} {_fields(c)}"
        out.append(line.rstrip())
        for reason in c.breaking:
            out.append(f"      BREAKING: {reason}")
        if c.downstream:
            out.append(f"      downstream: {', '.join(c.downstream)}")
    for s in diff.sources:
        out.append(f"  source {s.name}: {s.change} {', '.join(s.fields)}".rstrip())
        if s.tags:
            out.append(f"      tags reading it: {', '.join(s.tags)}")
    for table, changed in diff.profile_sql_changed.items():
        out.append(f"  {table}: fused query {'changed' if changed else 'unchanged'}")
    for name, (change, why) in diff.audiences.items():
        out.append(f"  audience {name}: {change}" + (f" ({why.replace('`', '')})" if why else ""))
    if diff.scenes:
        out.append(f"  scenes affected: {', '.join(diff.scenes)}")
    for name, (change, why) in diff.exports.items():
        out.append(f"  export {name}: {change}" + (f" ({why.replace('`', '')})" if why else ""))
        if name in diff.idle_exports:
            out.append(f"      IDLE: {diff.idle_exports[name]}")
    for who, reason in diff.export_breaking:
        out.append(f"      BREAKING ({who}): {reason}")
    for name, (change, why) in diff.goals.items():
        out.append(f"  goal {name}: {change}" + (f" ({why.replace('`', '')})" if why else ""))
    if preview:
        out += ["", *_preview_text(preview)]
    if show_sql:
        for c in diff.tags:
            if c.sql_diff:
                out += ["", c.sql_diff]
    return "\n".join(out).rstrip() + "\n"


def render_markdown(diff: PlanDiff, preview: dict[str, Any] | None = None) -> str:
    """GitHub-flavoured Markdown for a pull-request comment."""
    out = [MARKER, f"## Tag plan: `{diff.base}` → `{diff.head}`", "", f"**{_summary(diff)}**", ""]
    if diff.errors:
        out += ["### ❌ Errors", ""]
        out += [f"- `{d.file}:{d.line}` {d.message}" + (f" — {d.hint}" if d.hint else "") for d in diff.errors]
        out.append("")
    if diff.tags:
        out += ["| tag | change | fields | compiled SQL | downstream |", "|---|---|---|---|---|"]
        for c in diff.tags:
            label = c.change + (f" (from `{c.renamed_from}`)" if c.renamed_from else "")
            sql = "**changed**" if c.sql_changed else "unchanged"
            down = ", ".join(f"`{d}`" for d in c.downstream) or "—"
            out.append(f"| `{c.name}` | {label} | {_fields(c) or '—'} | {sql} | {down} |")
        out.append("")
    if diff.breaking:
        out += ["### ⚠️ Breaking changes", ""]
        out += [f"- `{tag}`: {reason}" for tag, reason in diff.breaking]
        out.append("")
    if diff.sources:
        out += ["### Sources", ""]
        for s in diff.sources:
            tags = ", ".join(f"`{t}`" for t in s.tags) or "no tags"
            out.append(f"- `{s.name}` {s.change}" + (f" ({', '.join(s.fields)})" if s.fields else "")
                       + f": {tags}")
        out.append("")
    if diff.affected:
        out += ["### Downstream impact", "",
                "Not changed themselves, but computed from something that changed: "
                + ", ".join(f"`{t}`" for t in diff.affected), ""]
    if diff.audiences:
        out += ["### Audiences and scenes", "", "| audience | change | why |", "|---|---|---|"]
        out += [f"| `{n}` | {c} | {w or '—'} |" for n, (c, w) in diff.audiences.items()]
        out += ["", "Scenes affected: " + (", ".join(f"`{s}`" for s in diff.scenes) or "none"), ""]
    if diff.exports:
        out += ["### Exports", "", "| export | change | why |", "|---|---|---|"]
        out += [f"| `{n}` | {c} | {w or '—'} |" for n, (c, w) in diff.exports.items()]
        idle = [f"- `{n}` is {why}" for n, why in diff.idle_exports.items() if n in diff.exports]
        out += ["", *idle] if idle else []
        out.append("")
    if diff.goals:
        out += ["### Goals", "", "| goal | change | why |", "|---|---|---|"]
        out += [f"| `{n}` | {c} | {w or '—'} |" for n, (c, w) in diff.goals.items()]
        out.append("")
    changed_tables = [t for t, changed in diff.profile_sql_changed.items() if changed]
    if diff.profile_sql_changed:
        out += ["Fused profile queries changed: " + (", ".join(f"`{t}`" for t in changed_tables) or "none"), ""]
    if preview:
        out += ["### Data preview", "", *_preview_markdown(preview), ""]
    diffs = [c for c in diff.tags if c.sql_diff]
    if diffs:
        out += ["### Compiled SQL", ""]
        for c in diffs:
            out += [f"<details><summary><code>{c.name}</code> ({c.change})</summary>", "", "```diff",
                    c.sql_diff, "```", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


def render_json(diff: PlanDiff, preview: dict[str, Any] | None = None) -> str:
    """Machine-readable form."""
    data = diff.to_dict()
    if preview is not None:
        data["preview"] = preview
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


# --- preview -----------------------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _distribution(side: dict[str, Any] | None) -> str:
    if not side:
        return "—"
    if side.get("quantiles"):
        q = side["quantiles"]
        return f"min {_num(q.get('min'))} · p50 {_num(q.get('p50'))} · max {_num(q.get('max'))} · mean {_num(q.get('mean'))}"
    top = side.get("top") or []
    return ", ".join(f"{v['value']} {_pct(v['share'])}" for v in top[:5]) or "—"


def _preview_rows(preview: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for name, item in preview["tags"].items():
        base, head = item.get("base"), item.get("head")
        for label, side in (("base", base), ("head", head)):
            if side is None:
                continue
            rows.append((name if label == "base" or base is None else "", label, _pct(side["coverage"]),
                         _pct(side["null_rate"]), _num(side["distinct"]), _distribution(side)))
    return rows


def _preview_header(preview: dict[str, Any]) -> str:
    return (f"Snapshot {preview['snapshot_date']} on {preview['sample']} ({preview['rows']:,} rows), "
            f"{preview['seconds']:.1f}s")


def _preview_text(preview: dict[str, Any]) -> list[str]:
    out = ["data preview: " + _preview_header(preview)]
    for row in _preview_rows(preview):
        out.append(f"  {row[0]:<28} {row[1]:<5} coverage {row[2]:>6}  nulls {row[3]:>6}  distinct {row[4]:>8}  {row[5]}")
    for name, item in preview["tags"].items():
        if item.get("changed") is not None:
            out.append(f"  {name}: value differs for {item['changed']:,} of {item['compared']:,} rows")
    return out


def _preview_markdown(preview: dict[str, Any]) -> list[str]:
    out = [_preview_header(preview), "", "| tag | side | coverage | nulls | distinct | distribution |",
           "|---|---|---|---|---|---|"]
    out += [f"| {'`' + r[0] + '`' if r[0] else ''} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} |"
            for r in _preview_rows(preview)]
    changed = [(n, i) for n, i in preview["tags"].items() if i.get("changed") is not None]
    if changed:
        out.append("")
        out += [f"- `{n}`: value differs for {i['changed']:,} of {i['compared']:,} rows "
                f"({_pct(i['changed'] / i['compared'] if i['compared'] else None)})" for n, i in changed]
    return out
