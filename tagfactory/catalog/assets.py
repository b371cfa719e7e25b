"""The catalog's stylesheet and script, written to ``assets/`` (local files: nothing from a CDN).

The script is small and optional everywhere but the search: pages are complete HTML without it.
It reads ``window.TF_SEARCH`` (``search-index.js``, loaded by the index page only) and the
``?q=`` of the index page's URL, so a search can be linked to (and driven by tests).
"""

from __future__ import annotations

CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f7f9fb; --accent:#2b6cb0; --warn:#c05621;
  --bad:#c53030; --good:#2f855a; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
  "Noto Sans CJK", sans-serif; color:var(--fg); background:var(--bg); }
header.top { background:#102a43; color:#fff; padding:8px 20px; display:flex; gap:18px; align-items:center; }
header.top a { color:#fff; text-decoration:none; }
header.top .brand { font-weight:600; }
header.top form { margin-left:auto; }
header.top input { padding:4px 8px; border-radius:4px; border:0; width:260px; }
main { max-width:1180px; margin:0 auto; padding:16px 20px 40px; }
h1 { font-size:22px; margin:8px 0 4px; } h1 small { color:var(--muted); font-weight:400; font-size:14px; }
h2 { font-size:17px; margin:26px 0 8px; border-bottom:1px solid var(--line); padding-bottom:4px; }
a { color:var(--accent); }
.crumbs { color:var(--muted); font-size:13px; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:3px 16px; margin:10px 0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
table { border-collapse:collapse; background:#fff; margin:6px 0; font-size:13px; }
th, td { border:1px solid var(--line); padding:3px 8px; text-align:left; vertical-align:top; }
th { background:#eef2f7; font-weight:600; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
pre { background:#fff; border:1px solid var(--line); padding:8px 10px; overflow:auto; font-size:12.5px;
  max-height:420px; }
.pill { display:inline-block; padding:0 7px; border-radius:9px; background:#e2e8f0; font-size:12px; }
.pill.pii, .pill.fail, .pill.failed { background:#fed7d7; color:var(--bad); }
.pill.pass, .pill.delivered, .pill.active { background:#c6f6d5; color:var(--good); }
.pill.warn, .pill.deprecated, .pill.unchanged { background:#feebc8; color:var(--warn); }
.charts { display:flex; flex-wrap:wrap; gap:12px; }
figure.chart { margin:0; background:#fff; border:1px solid var(--line); padding:6px; }
figure.chart figcaption { font-size:12px; color:var(--muted); max-width:380px; }
.nowrap { white-space:nowrap; }
figure.chart.empty { width:200px; } figure.chart.empty p { color:var(--muted); margin:8px 0 0; }
svg .axis { stroke:#9aa5b1; } svg .tick { font-size:10px; fill:var(--muted); }
svg .tick.warn { fill:var(--warn); }
svg .series { fill:none; stroke:var(--accent); stroke-width:1.8; } svg .dot { fill:var(--accent); }
svg .threshold { stroke:var(--warn); stroke-dasharray:4 3; }
svg .band { fill:#bee3f8; opacity:.75; } svg .whisker { stroke:#90cdf4; stroke-width:3; }
svg .zero { stroke:#52606d; stroke-dasharray:3 3; }
svg .bar { fill:var(--accent); } svg .bar.alt { fill:#90cdf4; }
.lineage-wrap { overflow:auto; background:#fff; border:1px solid var(--line); }
svg.lineage .edge { fill:none; stroke:#9fb3c8; stroke-width:1.3; }
svg.lineage .node rect { fill:#fff; stroke:#829ab1; } svg.lineage .node text { font-size:11px; fill:var(--fg); }
svg.lineage .node.source rect { fill:#fefcbf; } svg.lineage .node.column rect { fill:#fffff0; }
svg.lineage .node.tag rect { fill:#ebf8ff; } svg.lineage .node.audience rect { fill:#f0fff4; }
svg.lineage .node.scene rect { fill:#faf5ff; } svg.lineage .node.export rect { fill:#fff5f5; }
svg.lineage .node.focus rect { stroke:#102a43; stroke-width:2.5; }
svg.lineage .more { font-size:11px; fill:var(--muted); }
.legend .key { font-size:11px; padding:0 6px; border:1px solid #829ab1; border-radius:3px; margin-right:4px; }
.legend .key.source { background:#fefcbf; } .legend .key.column { background:#fffff0; }
.legend .key.tag { background:#ebf8ff; } .legend .key.audience { background:#f0fff4; }
.legend .key.scene { background:#faf5ff; } .legend .key.export { background:#fff5f5; }
.tree { display:grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap:12px; }
.tree section { background:#fff; border:1px solid var(--line); padding:8px 12px; }
.tree h3 { margin:2px 0 6px; font-size:15px; } .tree ul { margin:0; padding-left:18px; }
.muted, .empty { color:var(--muted); }
#search-box { width:100%; max-width:560px; padding:7px 10px; font-size:15px; border:1px solid #9aa5b1;
  border-radius:5px; }
#results { margin:8px 0 0; padding:0; list-style:none; }
#results li { padding:4px 0; border-bottom:1px solid var(--line); }
#results .kind { display:inline-block; width:70px; color:var(--muted); font-size:12px; }
#results .desc { color:var(--muted); font-size:12px; margin-left:70px; display:block; }
footer { color:var(--muted); font-size:12px; margin-top:30px; }
.pager { margin:10px 0; } .pager a, .pager strong, .pager span { margin-right:6px; }
.contents { font-size:13px; }
"""

JS = r"""
(function () {
  "use strict";
  var html = document.documentElement;
  window.addEventListener("error", function (ev) {
    html.setAttribute("data-js-errors", (html.getAttribute("data-js-errors") || "") + ev.message + ";");
  });
  function norm(s) { return (s || "").toString().toLowerCase().normalize("NFKC"); }
  var entries = null;
  function prepared() {
    if (entries === null) {
      entries = (window.TF_SEARCH || []).map(function (e) {
        return { kind: e[0], name: e[1], display: e[2], desc: e[3], url: e[4], where: e[5] || "",
                 n: norm(e[1]), d: norm(e[2]), x: norm(e[3]) };
      });
    }
    return entries;
  }
  function score(e, tokens) {
    var total = 0;
    for (var i = 0; i < tokens.length; i++) {
      var t = tokens[i], s = 0;
      if (e.n === t || e.d === t) s = 100;
      else if (e.n.indexOf(t) === 0 || e.d.indexOf(t) === 0) s = 60;
      else if (e.n.indexOf(t) >= 0 || e.d.indexOf(t) >= 0) s = 40;
      else if (e.x.indexOf(t) >= 0) s = 10;
      if (!s) return 0;
      total += s;
    }
    return total;
  }
  function search(q) {
    var tokens = norm(q).split(/\s+/).filter(Boolean);
    if (!tokens.length) return [];
    var hits = [];
    prepared().forEach(function (e) { var s = score(e, tokens); if (s) hits.push([s, e]); });
    hits.sort(function (a, b) { return b[0] - a[0] || (a[1].name < b[1].name ? -1 : 1); });
    return hits.map(function (h) { return h[1]; });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }
  function show(q) {
    var list = document.getElementById("results"), count = document.getElementById("result-count");
    if (!list) return;
    list.textContent = "";
    var hits = search(q);
    if (count) count.textContent = q ? hits.length + " result" + (hits.length === 1 ? "" : "s") + " for \u201c" + q + "\u201d" : "";
    hits.slice(0, 100).forEach(function (e) {
      var li = el("li", "hit " + e.kind);
      li.appendChild(el("span", "kind", e.kind));
      var a = el("a", null, e.display && e.display !== e.name ? e.display + " (" + e.name + ")" : e.name);
      a.href = e.url;
      li.appendChild(a);
      if (e.where) li.appendChild(el("span", "muted", " \u00b7 " + e.where));
      if (e.desc) li.appendChild(el("span", "desc", e.desc));
      list.appendChild(li);
    });
  }
  var box = document.getElementById("search-box");
  if (box) {
    var q = "";
    try { q = new URLSearchParams(window.location.search).get("q") || ""; } catch (err) { q = ""; }
    box.value = q;
    show(q);
    box.addEventListener("input", function () { show(box.value); });
    html.setAttribute("data-search-ready", String(prepared().length));
  }
})();
"""
