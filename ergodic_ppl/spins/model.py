"""Spin models: fields, pairwise couplings (dense or sparse) and k-body ("Walsh") terms on N ±1 spins.

The energy of a configuration ``s`` in {-1,+1}^n is (docs/THEORY.md A.2, DESIGN.md section 4)::

    E(s) = - sum_i h_i s_i - sum_{i<j} J_ij s_i s_j - sum_{S, |S|>=3} J_S prod_{k in S} s_k

and ``p(s) ∝ exp(-beta * E(s))``. The energy is multilinear in the spins, so the *local field*
of spin ``i`` (minus the derivative of ``E`` with respect to ``s_i``) does not depend on ``s_i``::

    h_eff_i(s) = h_i + sum_j J_ij s_j + sum_{S ∋ i} J_S prod_{k in S \\ i} s_k

and flipping spin ``i`` changes the energy by ``ΔE_i = 2 s_i h_eff_i``. Spins in an independent
set of the interaction graph can therefore be updated together (chromatic Gibbs).

A :class:`SpinModel` is a JAX pytree: its weights (fields, couplings, k-body weights) are leaves,
so they may be traced (a coupling scale sampled by NUTS), while its *structure* (which spins
interact) is static NumPy metadata fixed at construction.

The class is assembled from one base per concept: :mod:`.storage` (the constructor's checks,
dense / sparse / bipartite storage, the pytree split, read-only views), :mod:`.energy` (energy,
local fields, flip energies, interaction graph) and :mod:`.conversions` (Walsh couplings, 0/1
RBM units).  This module holds the class, its transforms and its named constructors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_key
from .conversions import _SpinConversions
from .energy import _bipartite_fields, _SpinEnergy  # noqa: F401  (kernels import it from here)
from .storage import _finite, _SpinStorage
from .structure import _build_structure
from .values import _is_concrete, as_count, as_index_array, check_spins

__all__ = ["SpinModel"]


def _weights(value, shape: tuple, name: str, label: str = "") -> jax.Array:
    """Weights of a given shape: finite when concrete; a traced array (weights that are
    latent sites of a Bayesian model) is taken as it is."""
    w = jnp.asarray(value, dtype=jnp.result_type(float))
    if w.shape != shape:
        raise ValueError(f"`{name}` must have shape {label + ' = ' if label else ''}{shape}; "
                         f"got {w.shape}.")  # fmt: skip
    if _is_concrete(w):
        _finite(np.asarray(w), name)
    return w


def _uniform(size: int, value) -> jax.Array:
    """``size`` copies of a scalar weight, which may be traced (a coupling sampled by a kernel)."""
    if jnp.ndim(value) != 0:
        raise ValueError(f"expected a scalar coupling or field; got shape {jnp.shape(value)}.")
    return jnp.full(size, value, dtype=jnp.result_type(float))


@jax.tree_util.register_pytree_node_class
class SpinModel(_SpinStorage, _SpinEnergy, _SpinConversions):
    """Energy model on ``n`` spins in {-1, +1} (docs/THEORY.md A.2).

    Parameters
    ----------
    fields : (n,) array, optional
        External fields ``h_i``.
    couplings : (n, n) array, optional
        Symmetric pairwise couplings ``J_ij`` with zero diagonal. Mostly-zero matrices are stored
        as an edge list automatically; use :meth:`from_edges` to give edges directly.
    terms : mapping or sequence, optional
        k-body terms: ``{(i, j, k, ...): J_S}`` or a sequence of ``(index_array (t, k), weights (t,))``
        pairs. Orders 1 and 2 are folded into ``fields`` and ``couplings``.
    n : int, optional
        Number of spins, needed only when it cannot be inferred from the arrays.

    Examples
    --------
    >>> import ergodic_ppl as ep
    >>> model = ep.SpinModel.ising_2d(4, 4, coupling=1.0)
    >>> float(model.energy(jnp.ones(16)))
    -32.0
    """

    # ------------------------------------------------------------------ transforms
    def as_dense(self) -> SpinModel:
        """The same pairwise model with its couplings stored as a dense ``(n, n)`` matrix (the
        structure's pairs kept, even at zero weight).  Pairwise models only."""
        if self._structure.orders:
            raise ValueError(f"as_dense takes a pairwise model; {self!r} has k-body terms.")
        return SpinModel._dense_with_edges(self.n, self.edges, self.couplings, self.fields)

    def scaled(self, coupling_scale=1.0, field_scale=1.0) -> SpinModel:
        """Same structure, interactions multiplied by ``coupling_scale`` (may be traced) and
        fields by ``field_scale``. Useful for a coupling scale sampled by NUTS."""
        return SpinModel.tree_unflatten(
            self._structure,
            (
                self.fields * field_scale,
                self.pair_weights * coupling_scale,
                tuple(w * coupling_scale for w in self.kbody_weights),
            ),
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(cls, n: int, edges, weights, fields=None) -> SpinModel:
        """Sparse pairwise model from an edge list ``(m, 2)`` and weights ``(m,)``.

        ``E(s) = -sum_i h_i s_i - sum_{(i, j) in edges} w_ij s_i s_j`` (docs/THEORY.md A.2).
        ``edges`` holds integer spin indices in ``[0, n)`` (integral floats are accepted; a
        fractional index such as 0.5 is an error, never truncated). Each unordered pair may
        appear once; self-loops are rejected. An empty edge list gives a fields-only model.

        >>> SpinModel.from_edges(3, [(0, 1), (1, 2)], [1.0, -0.5])
        SpinModel(n=3, pairwise=2 edges)
        """
        n = as_count(n, "n")
        e = as_index_array(edges, "edges")
        if e.size == 0:
            e = e.reshape(0, 2)
        if e.ndim != 2 or e.shape[1] != 2:
            raise ValueError(f"`edges` must have shape (m, 2); got {e.shape}.")
        w = jnp.asarray(weights, dtype=jnp.result_type(float))
        if w.shape != (len(e),):
            raise ValueError(
                f"`weights` must have shape ({len(e)},) to match `edges`; got {w.shape}."
            )
        if len(e) and (e.min() < 0 or e.max() >= n):
            raise ValueError(f"`edges` has spin indices outside [0, {n}).")
        if np.any(e[:, 0] == e[:, 1]):
            raise ValueError("`edges` contains a self-loop (i, i); s_i^2 = 1 makes it a constant.")
        lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
        canon = np.stack([lo, hi], 1)
        if len(np.unique(canon, axis=0)) != len(canon):
            raise ValueError("`edges` lists the same pair twice; sum their weights into one edge.")
        if _is_concrete(w):
            _finite(np.asarray(w), "weights")
        return cls(fields=fields, n=n, _edges=canon, _edge_weights=w)

    @classmethod
    def _dense_with_edges(cls, n: int, pairs: np.ndarray, couplings, fields) -> SpinModel:
        """Dense couplings whose interaction structure is the given pairs ``i < j`` (which
        may carry zero weight: a model to be trained keeps its structure)."""
        J = np.zeros((n, n)) if couplings is None else np.asarray(couplings, float)
        outside = np.ones((n, n), bool)
        outside[pairs[:, 0], pairs[:, 1]] = outside[pairs[:, 1], pairs[:, 0]] = False
        if np.any(J[outside] != 0):
            raise ValueError("`couplings` is non-zero on a pair outside the model's structure.")
        fields = jnp.zeros(n) if fields is None else fields
        model = cls(fields=fields, n=n)  # validates the fields
        leaves = (model.fields, jnp.asarray(J, dtype=jnp.result_type(float)), ())
        return cls.tree_unflatten(_build_structure(n, True, pairs.astype(np.int32), ()), leaves)

    @classmethod
    def fully_connected(cls, n: int, couplings=None, fields=None) -> SpinModel:
        """Fully visible Boltzmann machine: every pair ``i < j`` coupled, dense storage.

        ``E(s) = -sum_i h_i s_i - sum_{i<j} J_ij s_i s_j``. Weights default to zero (the
        starting point of :func:`ergodic_ppl.learning.fit`); all ``n (n - 1) / 2`` pairs are
        part of the structure even while their weight is zero.

        >>> SpinModel.fully_connected(64)
        SpinModel(n=64, pairwise=dense)
        """
        n = as_count(n, "n", minimum=2)
        if couplings is not None:
            couplings = cls(couplings=couplings).couplings  # symmetric, zero-diagonal check
        return cls._dense_with_edges(n, np.stack(np.triu_indices(n, 1), 1), couplings, fields)

    @classmethod
    def rbm(
        cls, n_visible: int, n_hidden: int, *, rng_key=None, scale: float = 0.01, weights=None,
        visible_fields=None, hidden_fields=None,
    ) -> SpinModel:  # fmt: skip
        """Restricted Boltzmann machine on ``n_visible + n_hidden`` spins: visible spins are
        ``0..n_visible-1``, hidden spins follow; only visible-hidden pairs interact.

        ``E(v, t) = -a.v - b.t - v^T W t`` (±1 units). ``weights`` ``(n_visible, n_hidden)``
        gives ``W``; else ``W ~ Normal(0, scale^2)`` from ``rng_key`` (scikit-learn's
        BernoulliRBM starts at scale 0.01), or zeros without one. Stored as the bipartite
        block ``W`` itself (``pair_weights``, never the ``(n, n)`` square; ``weights`` and the
        fields may be traced, e.g. latent sites of :class:`~ergodic_ppl.Exchange`): a sweep updates the
        two layers in turn, each one matrix product on all chains. Train it with
        ``ep.learning.fit(model, data, visible=range(n_visible))``; convert to and from the
        0/1 units of scikit-learn's ``BernoulliRBM`` with :meth:`to_bernoulli_rbm` and
        :meth:`from_bernoulli_rbm`.

        >>> SpinModel.rbm(64, 32)
        SpinModel(n=96, pairwise=bipartite 64x32)
        """
        nv, nh = as_count(n_visible, "n_visible"), as_count(n_hidden, "n_hidden")
        if weights is None:
            w = (
                np.zeros((nv, nh))
                if rng_key is None
                else scale
                * np.asarray(jax.random.normal(check_key(rng_key, "rng_key"), (nv, nh)), float)
            )
        else:
            w = _weights(weights, (nv, nh), "weights", "(n_visible, n_hidden)")
        parts = []
        for value, size, name in (
            (visible_fields, nv, "visible_fields"),
            (hidden_fields, nh, "hidden_fields"),
        ):
            parts.append(jnp.zeros(size) if value is None else _weights(value, (size,), name))
        return cls._bipartite(nv, nh, w, jnp.concatenate(parts))

    @classmethod
    def _bipartite(cls, n_visible: int, n_hidden: int, weights, fields) -> SpinModel:
        """Bipartite storage: ``pair_weights`` is ``W (n_visible, n_hidden)``."""
        n = n_visible + n_hidden
        model = cls(fields=fields, n=n)  # validates the fields
        iv, ih = np.meshgrid(np.arange(n_visible), np.arange(n_visible, n), indexing="ij")
        pairs = np.stack([iv.reshape(-1), ih.reshape(-1)], 1).astype(np.int32)
        structure = _build_structure(n, False, pairs, (), n_visible=n_visible)
        w = jnp.asarray(weights, dtype=jnp.result_type(float))
        return cls.tree_unflatten(structure, (model.fields, w, ()))

    @classmethod
    def ising_chain(cls, n: int, coupling=1.0, field=0.0, periodic: bool = True) -> SpinModel:
        """1-D Ising chain of ``n >= 2`` spins with uniform coupling and field.

        ``E(s) = -J sum_i s_i s_{i+1} - h sum_i s_i``; ``periodic`` adds the bond (0, n-1)
        when ``n > 2``. ``coupling`` and ``field`` are scalars and may be traced (latent sites
        of a Bayesian model, :class:`~ergodic_ppl.Exchange`).
        """
        n = as_count(n, "n", minimum=2)
        edges = [(i, i + 1) for i in range(n - 1)]
        if periodic and n > 2:
            edges.append((0, n - 1))
        return cls.from_edges(n, edges, _uniform(len(edges), coupling), _uniform(n, field))

    @classmethod
    def ising_2d(
        cls, rows: int, cols: int, coupling=1.0, field=0.0, periodic: bool = True
    ) -> SpinModel:
        """Nearest-neighbour Ising model on a ``rows × cols`` square lattice; spin ``r * cols + c``.

        ``E(s) = -J sum_<ij> s_i s_j - h sum_i s_i``; ``coupling`` ``J`` and ``field`` ``h`` are
        scalars and may be traced (latent sites of a Bayesian model, :class:`~ergodic_ppl.Exchange`).
        """
        rows, cols = as_count(rows, "rows"), as_count(cols, "cols")
        edges = set()
        for r in range(rows):
            for c in range(cols):
                i = r * cols + c
                for dr, dc in ((0, 1), (1, 0)):
                    rr, cc = r + dr, c + dc
                    if periodic:
                        rr, cc = rr % rows, cc % cols
                    elif rr >= rows or cc >= cols:
                        continue
                    j = rr * cols + cc
                    if i != j:
                        edges.add((min(i, j), max(i, j)))
        edges = sorted(edges)
        n = rows * cols
        return cls.from_edges(n, edges, _uniform(len(edges), coupling), _uniform(n, field))

    @classmethod
    def sherrington_kirkpatrick(cls, n: int, rng_key, scale: float = 1.0, fields=None) -> SpinModel:
        """Sherrington–Kirkpatrick spin glass: ``J_ij ~ Normal(0, scale^2 / n)``, dense."""
        n = as_count(n, "n", minimum=2)
        upper = jax.random.normal(check_key(rng_key, "rng_key"), (n, n)) * (scale / np.sqrt(n))
        J = jnp.triu(upper, 1)
        return cls(fields=fields, couplings=J + J.T)

    @classmethod
    def hopfield(cls, patterns, fields=None) -> SpinModel:
        """Hopfield network with Hebbian couplings ``J_ij = (1/n) sum_mu xi_i^mu xi_j^mu``.

        ``patterns``: (p, n) array of ±1 patterns; each pattern (and its mirror) is a low-energy
        state while ``p / n`` is small.
        """
        xi = np.atleast_2d(np.asarray(patterns))
        check_spins(xi, xi.shape[-1], "patterns")
        n = xi.shape[1]
        J = xi.T.astype(float) @ xi.astype(float) / n
        np.fill_diagonal(J, 0.0)
        return cls(fields=fields, couplings=J)
