"""Helpers shared by the plot modules: new figures, laid out titles and honest legends."""

from __future__ import annotations

import textwrap

import numpy as np

CHAR_WIDTH = 0.6  # a character's mean width, in units of the font size (for wrapping titles)


def _axes(ax, figsize):
    """``ax``, or the Axes of a new figure of size ``figsize``."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _tidy(fig, owned: bool) -> None:
    """Lay out a figure this package made (``owned``) so that titles, tick labels, colour bars
    and legends placed outside the axes all lie inside it; a caller's figure is left alone."""
    if owned:
        fig.tight_layout()


def _set_title(ax, text: str, *, within: str = "figure", **kwargs) -> None:
    """``ax.set_title(text)``, lines wrapped at spaces where the title would not fit: a title
    wider than its figure is cut off at the figure's edge, whatever the layout.

    ``within="figure"``: the title, centred over the Axes, must fit in the figure (the widest
    span about the Axes' centre); ``"axes"``: in the Axes' width (a grid of small images, whose
    titles must not run into their neighbours').  Widths are measured with the figure's
    renderer (a character-width estimate where the canvas has none)."""
    title = ax.set_title(text, **kwargs)
    fig = ax.figure
    box = ax.get_position()
    if within == "axes":
        room = box.width
    else:
        centre = 0.5 * (box.x0 + box.x1)
        room = 2.0 * min(centre, 1.0 - centre) - 0.04
    room *= fig.bbox.width  # pixels
    try:
        renderer = fig.canvas.get_renderer()
    except AttributeError:
        renderer = None
    longest = max(len(line) for line in text.split("\n"))
    chars = longest
    for _ in range(8):
        if renderer is not None:
            width = title.get_window_extent(renderer).width
        else:
            width = chars * CHAR_WIDTH * title.get_fontsize() * fig.dpi / 72.0
        if width <= room or chars <= 8:
            return
        chars = max(8, min(chars - 1, int(chars * room / width)))
        lines = [textwrap.fill(line, chars, break_on_hyphens=False) for line in text.split("\n")]
        title.set_text("\n".join(lines))
        if renderer is None:
            return


def _shows(line, log: bool) -> bool:
    """Whether a ``Line2D`` has a point that is drawn (finite; positive on a log scale)."""
    x = np.asarray(line.get_xdata(), np.float64)
    y = np.asarray(line.get_ydata(), np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if log:
        ok &= y > 0
    return bool(ok.any()) and line.get_visible()


def _legend(ax, **kwargs):
    """A legend (``loc="best"`` unless given) naming only the labelled lines that show at least
    one point; none (and any earlier one removed) when no labelled line does."""
    log = ax.get_yscale() == "log"
    handles = [h for h in ax.get_lines() if not h.get_label().startswith("_") and _shows(h, log)]
    if not handles:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        return None
    kwargs.setdefault("loc", "best")
    return ax.legend(handles=handles, **kwargs)
