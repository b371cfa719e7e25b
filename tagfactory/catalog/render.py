"""HTML building blocks of the catalog: the page layout and small helpers (every value escaped).

Every page but the index lives one folder down (``tag/x.html``), so links from a page start with
``../``; the layout links the local stylesheet and script only (no CDN, no web fonts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any, TypeVar

from tagfactory import __version__

T = TypeVar("T")


def e(value: object) -> str:
    """``value`` as escaped HTML text (None as an empty string)."""
    return "" if value is None else escape(str(value), quote=True)


def a(href: str | None, text: object, cls: str = "") -> str:
    """A link, or the plain text when there is no page to link to."""
    if not href:
        return e(text)
    klass = f' class="{e(cls)}"' if cls else ""
    return f'<a href="{e(href)}"{klass}>{e(text)}</a>'


def pill(text: object, cls: str = "") -> str:
    return f'<span class="pill {e(cls or text)}">{e(text)}</span>'


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already (use :func:`e` for text)."""
    return '<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (),
          empty: str = "none") -> str:
    """A table; cells are HTML already; ``numeric``: indexes of right-aligned columns."""
    body = []
    for row in rows:
        cells = "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>' for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return f'<p class="empty">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def pager(number: int, count: int, file_of: Callable[[int], str]) -> str:
    """Previous / numbered / next links of page ``number`` (1-based) of ``count``; ``file_of(n)`` is
    the file name of page ``n`` (relative to the page). Empty for a single page."""
    if count <= 1:
        return ""
    links = [a(file_of(number - 1), "‹ previous") if number > 1 else '<span class="muted">‹ previous</span>']
    links += [f"<strong>{n}</strong>" if n == number else a(file_of(n), str(n)) for n in range(1, count + 1)]
    links.append(a(file_of(number + 1), "next ›") if number < count else '<span class="muted">next ›</span>')
    return f'<nav class="pager" aria-label="pages">{" ".join(links)}</nav>'


def chunks(items: list[T], size: int) -> list[list[T]]:
    """``items`` in pages of at most ``size`` (one empty page when there are none)."""
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def code(text: str | None, missing: str = "not available") -> str:
    if not text:
        return f'<p class="empty">{e(missing)}</p>'
    return f"<pre><code>{e(text)}</code></pre>"


def compact_json(value: Any) -> str:
    """A short JSON rendering of a value for a table cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def fmt_int(value: Any) -> str:
    return "" if value is None else f"{int(value):,}"


def fmt_share(value: Any) -> str:
    return "" if value is None else f"{float(value):.1%}"


def page(title: str, body: str, *, root: str = "../", crumbs: Sequence[tuple[str | None, str]] = (),
         scripts: Sequence[str] = (), built_at: str = "") -> str:
    """A whole page: header with navigation and the search form (submitting to the index page)."""
    trail = ""
    if crumbs:
        trail = '<p class="crumbs">' + " › ".join(a(href, text) for href, text in crumbs) + "</p>"
    tags = "".join(f'<script src="{e(root + s)}"></script>' for s in [*scripts, "assets/catalog.js"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en" data-root="{e(root)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)} · Tag catalog</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{e(root)}assets/catalog.css"></head><body>'
        f'<header class="top"><a class="brand" href="{e(root)}index.html">Tag catalog</a>'
        f'<a href="{e(root)}index.html#categories">Categories</a><a href="{e(root)}index.html#sources">Sources</a>'
        f'<a href="{e(root)}index.html#audiences">Audiences</a><a href="{e(root)}index.html#exports">Exports</a>'
        f'<a href="{e(root)}quality/index.html">Quality</a>'
        f'<form action="{e(root)}index.html" method="get"><input name="q" type="search" '
        'placeholder="Search tags, audiences, exports" aria-label="search"></form></header>'
        f"<main>{trail}{body}<footer>Lakehouse Tag Factory {e(__version__)} · built {e(built_at)} · "
        "static pages, no network needed</footer></main>"
        f"{tags}</body></html>\n"
    )
