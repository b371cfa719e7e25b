"""The search index: one small script (``search-index.js``) the index page loads, nothing else does.

Each entry is ``[kind, name, display name, description, url, where]``; the page's script matches
every word of the query against the name and display name (Chinese included: substring match,
no word splitting needed) and the description, and ranks exact and prefix matches first.
"""

from __future__ import annotations

import json

from tagfactory.catalog.model import Catalog

Entry = list[str]


def entries(cat: Catalog) -> list[Entry]:
    """Every tag, audience, scene, export and source as a search entry (URLs relative to the index)."""
    out: list[Entry] = []
    for _, tag in cat.tags.values():
        out.append(["tag", tag.name, tag.display_name, tag.description, cat.url(f"tag:{tag.name}", "") or "",
                    tag.category])
    for _, audience in cat.audiences.values():
        out.append(["audience", audience.name, audience.display_name, audience.description,
                    cat.url(f"audience:{audience.name}", "") or "", audience.kind])
    for _, scene in cat.scenes.values():
        out.append(["scene", scene.name, scene.display_name, scene.description,
                    cat.url(f"scene:{scene.name}", "") or "", f"{len(scene.branches)} branches"])
    for export in cat.exports.values():
        out.append(["export", export.name, export.display_name, export.description,
                    cat.url(f"export:{export.name}", "") or "", export.consumer.system])
    for _, source in cat.sources.values():
        out.append(["source", source.name, source.name, f"{source.kind} source, {len(source.columns)} columns",
                    cat.url(f"source:{source.name}", "") or "", source.path])
    return out


def index_script(cat: Catalog) -> str:
    """``search-index.js``: the entries as ``window.TF_SEARCH`` (a script, so it loads from file:// too)."""
    data = json.dumps(entries(cat), ensure_ascii=False, separators=(",", ":"))
    # "</" cannot end the script early when the file is inlined somewhere
    return "window.TF_SEARCH = " + data.replace("</", "<\\/") + ";\n"
