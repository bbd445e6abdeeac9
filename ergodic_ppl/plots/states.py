"""Spin states (samples, basin minima, mixture centres) as images."""

from __future__ import annotations

import numpy as np

from ._common import _axes, _set_title, _tidy

SPIN_CMAP = "gray"  # spin -1 (bit 1, ink) black, +1 (bit 0, background) white


def plot_spin_grid(states, image_shape=None, *, titles=None, columns: int = 8, axes=None):
    """Spin states ``(k, n)`` (±1; only the first ``prod(image_shape)`` spins of each are drawn,
    e.g. the visible ones) as a grid of ``image_shape`` images, ``columns`` per row, each titled
    by ``titles[i]`` when given.  Without ``image_shape``: one raster, a row per state.

    Colours follow the data convention ``s = 1 - 2 b``: spin ``-1`` is bit 1, an "on" (ink)
    pixel, drawn black; spin ``+1`` is bit 0, the background, drawn white (grey scale from
    ``-1`` to ``+1``, so fractional values such as mixture centres are grey).
    Returns the Axes (an array for the grid).
    """
    import matplotlib.pyplot as plt

    x = np.asarray(states)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"`states` must be a non-empty (k, n) array; got shape {x.shape}.")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"`titles` has {len(titles)} entries for {len(x)} states.")
    if image_shape is None:
        owned = axes is None
        ax = _axes(axes, (8, 0.25 * len(x) + 1.5))
        ax.imshow(x, cmap=SPIN_CMAP, vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xlabel("spin")
        ax.set_ylabel("state")
        if titles is not None:
            ax.set_yticks(range(len(x)), [str(t) for t in titles], fontsize=7)
        _tidy(ax.figure, owned)
        return ax
    h, w = (int(v) for v in image_shape)
    if h * w > x.shape[1]:
        raise ValueError(
            f"`image_shape` {h}x{w} needs {h * w} spins; the states have {x.shape[1]}."
        )
    columns = max(1, min(int(columns), len(x)))
    rows = -(-len(x) // columns)
    owned = axes is None
    if axes is None:
        size = (1.1 * columns, 1.1 * rows + (0.25 * rows if titles is not None else 0))
        axes = plt.subplots(rows, columns, figsize=size, squeeze=False)[1]
    axes = np.asarray(axes).reshape(-1)
    if axes.size < len(x):
        raise ValueError(f"{axes.size} Axes given for {len(x)} states.")
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(x):
            ax.imshow(x[i, : h * w].reshape(h, w), cmap=SPIN_CMAP, vmin=-1, vmax=1,
                      interpolation="nearest")  # fmt: skip
            if titles is not None:
                _set_title(ax, str(titles[i]), within="axes", fontsize=8)
    _tidy(axes[0].figure, owned)
    return axes
