"""Spin conditionals, split as thrml splits them: compute the local fields, then sample given them.

With local field ``h_i = -dE/ds_i`` (independent of ``s_i``; docs/THEORY.md A.2, DESIGN.md
section 4) the single-spin conditionals at inverse temperature ``beta`` are

- heat bath (Gibbs): ``P(s_i = +1 | rest) = sigmoid(2 beta h_i)``;
- Metropolis: flip with probability ``min(1, exp(-beta ΔE_i))``, ``ΔE_i = 2 s_i h_i``.

Every kernel of the package (chromatic/sequential/random Gibbs, tempering rungs, AIS) goes
through :func:`local_fields` and :func:`sample_spins`; nothing else gathers fields for sampling.

Spins here are **site-major**: ``s`` has shape ``(n, B)`` (B = all chains and rungs, flattened),
so that gathering the neighbours of a colour class copies contiguous rows of B values. That
layout is what makes a sweep fast; :class:`ergodic_ppl.kernels.gibbs.SpinGibbsState` keeps it
between sweeps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..spins import SpinModel
from ..spins.model import _bipartite_fields

__all__ = ["UPDATES", "flip_probability", "local_fields", "sample_spins"]

UPDATES = ("heat_bath", "metropolis")


def local_fields(model: SpinModel, s, idx) -> jax.Array:
    """Local fields ``h_i`` of the spins at ``idx`` for site-major spins ``s`` ``(n, B)``.

    ``idx`` is a static NumPy index array, or a traced one padded with ``n`` (clipped here; the
    caller masks the padding). Returns ``(len(idx), B)``.
    """
    st = model._structure
    if isinstance(idx, np.ndarray):
        take = lambda a: a[idx]  # noqa: E731
    else:
        safe = jnp.minimum(idx, st.n - 1)
        take = lambda a: jnp.take(jnp.asarray(a), safe, axis=0)  # noqa: E731
    h = take(model.fields)[:, None]
    if st.dense:
        h = h + take(model.pair_weights) @ s  # J is symmetric: rows
    elif st.bipartite and isinstance(idx, np.ndarray):  # a layer: one matrix product
        h = h + _bipartite_fields(model.pair_weights, st.n_visible, s, idx, site_major=True)
    elif st.bipartite:  # traced sites (single-site scans): rows of the full matrix
        h = h + take(model.couplings) @ s
    elif st.pair_nbr.shape[1] and len(st.edges):
        w = jnp.concatenate([model.pair_weights, jnp.zeros((1,), model.pair_weights.dtype)])
        h = h + jnp.sum(s[take(st.pair_nbr)] * w[take(st.pair_slot)][..., None], axis=1)
    for others, slot, w in zip(st.kbody_others, st.kbody_slot, model.kbody_weights, strict=True):
        wp = jnp.concatenate([w, jnp.zeros((1,), w.dtype)])
        prod = jnp.prod(s[take(others)], axis=2)  # (m, width, B)
        h = h + jnp.sum(prod * wp[take(slot)][..., None], axis=1)
    return h


def sample_spins(update: str, beta, old, h, u) -> jax.Array:
    """New spins given their local fields ``h`` and uniforms ``u`` (same shape as ``old``).

    ``update="heat_bath"``: ``+1`` where ``u < sigmoid(2 beta h)``; ``"metropolis"``: ``-old``
    where ``u < exp(-2 beta old h)``. ``beta`` broadcasts against the trailing (chain) axis.
    """
    if update == "heat_bath":
        return jnp.where(u < jax.nn.sigmoid(2.0 * beta * h), 1.0, -1.0).astype(old.dtype)
    if update == "metropolis":
        return jnp.where(u < jnp.exp(-2.0 * beta * old * h), -old, old)
    raise ValueError(f"`update` must be one of {UPDATES}; got {update!r}.")


def flip_probability(update: str, delta) -> jax.Array:
    """Probability of flipping one variable whose flip changes the potential by ``delta``
    (``beta ΔE`` for spins; ``ΔU`` of a NumPyro potential on the generic path): heat bath
    ``sigmoid(-delta)``, Metropolis ``min(1, exp(-delta))``."""
    if update == "heat_bath":
        return jax.nn.sigmoid(-delta)
    if update == "metropolis":
        return jnp.minimum(1.0, jnp.exp(-delta))
    raise ValueError(f"`update` must be one of {UPDATES}; got {update!r}.")
