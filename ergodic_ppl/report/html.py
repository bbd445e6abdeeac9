"""The one HTML builder of the reports: a self-contained page (no external file), provenance
at the top, tables that fit the page (wrapped in a horizontally scrolling box, readable headers
with units and a footnote for every infinite or missing cell) and figures as base64 PNGs."""

from __future__ import annotations

import html

from ..diagnostics.ergodicity_report import STATUS_COLOURS
from .columns import cell_text, column, footnotes
from .provenance import provenance_lines

__all__ = ["STATUS_COLOURS", "STYLE", "bullets", "esc", "img", "page", "status", "table"]

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "line-height:1.4}"
    ".table-wrap{max-width:100%;overflow-x:auto;margin:.5em 0}"
    "table{border-collapse:collapse;font-size:90%}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right;vertical-align:top}"
    "th{background:#f4f4f4;max-width:14em;white-space:normal}"
    "td{white-space:nowrap}td.wrap{white-space:normal;text-align:left;min-width:16em}"
    "p.note{font-size:85%;color:#444;margin:.2em 0 1em}"
    "pre.provenance{background:#f7f7f7;border:1px solid #ddd;padding:.5em;white-space:pre-wrap;"
    "font-size:85%}"
    ".flag{color:#b00}td.b{font-weight:bold}td.flag{color:#b00;font-weight:bold}img{max-width:100%;display:block;margin:1em 0}"
)


def esc(text) -> str:
    return html.escape(str(text))


def table(
    rows: list[dict],
    columns: list[str],
    *,
    wrap: tuple = (),
    digits: int = 4,
    note: str | None = None,
    mark=None,
    labels: dict | None = None,
) -> str:
    """A table of ``rows`` (dicts) over ``columns`` (``summary.json`` keys, shown as the
    readable headers of :mod:`.columns`, the key as the header's tooltip), in a box that
    scrolls sideways when wider than the page, with a footnote saying what each infinite (∞)
    or missing (—) cell means.  ``wrap``: columns of long text; ``note``: a sentence for the
    footnote; ``mark(row, column)`` -> a CSS class (``"b"`` bold, ``"flag"`` red) or None;
    ``labels``: headers that differ from :mod:`.columns` in this table."""
    labels = labels or {}
    head = "".join(
        f'<th title="{esc(c)}" scope="col">{esc(labels.get(c, column(c).label))}</th>'
        for c in columns
    )

    def td(r, c):
        text = esc(cell_text(r[c], digits) if c in r else "")
        classes = ["wrap"] if c in wrap else []
        if mark is not None and c in r and mark(r, c):
            classes.append(mark(r, c))
        cls = f' class="{" ".join(classes)}"' if classes else ""
        return f"<td{cls}>{text}</td>"

    body = "".join("<tr>" + "".join(td(r, c) for c in columns) + "</tr>" for r in rows)
    notes = ([note] if note else []) + footnotes(rows, columns, labels)
    foot = f'<p class="note">{"<br>".join(esc(n) for n in notes)}</p>' if notes else ""
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{foot}"
    )


def img(images: dict, name: str) -> str:
    """The embedded figure ``name`` (nothing when the report has no such figure)."""
    if name not in images:
        return ""
    return f'<img alt="{esc(name)}" src="data:image/png;base64,{images[name]}">'


def status(word: str) -> str:
    return f'<p style="color:{STATUS_COLOURS[word]};font-weight:bold">status: {esc(word)}</p>'


def bullets(heading: str, items, level: int = 2) -> str:
    if not items:
        return ""
    li = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f"<h{level}>{esc(heading)}</h{level}><ul>{li}</ul>"


def page(title: str, sections: list[str], provenance: dict) -> str:
    """The whole page: title, provenance block (to paste into a supplement), ``sections``."""
    prov = esc("\n".join(provenance_lines(provenance)))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f'<section id="provenance"><h2>Provenance</h2><pre class="provenance">{prov}</pre>'
        "</section>" + "".join(sections) + "</body></html>\n"
    )
