"""One model per free-energy minimum: the per-basin mixture (THEORY.md A.6, the remedy).

When a single reduced model breaks ergodicity (its chains cannot move between the bound states
of the data) each bound state gets its own model:

    p(s) = sum_a w_a exp(-beta E_a(s)) / Z_a

The data are labelled by basin (each point quenched under a model fitted to all the data, the
minima grouped by overlap; or labels given by the user), one reduced model is fitted per
cluster with the project's own fitting (``ep.thermo.reduce(method="fit")``: exact maximum
likelihood for n <= 20), and the components are weighted by their share of the data.

Work in progress (issue 11): exact ``log_prob``/``sample`` for n <= 20 here; estimated
``log Z`` beyond, ``weights="free_energy"``, ``from_report``, the NumPyro distribution and
``ep.compare`` are still to come.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from .basins.descent import energies_of, quench, unique_states
from .basins.landscape import cluster_minima, label_by_overlap
from .checks import check_beta, check_count
from .exact import log_z as exact_log_z
from .spins import SpinModel
from .thermo.data import MAX_TABLE_N, as_spin_data

__all__ = ["BasinMixture", "basin_labels"]

#: clusters with fewer points than this are merged into the nearest larger one
MIN_CLUSTER_SIZE = 20
OVERLAP_THRESHOLD = 0.6


def basin_labels(model: SpinModel, data, overlap_threshold: float = OVERLAP_THRESHOLD):
    """Basin label of every data point under ``model``: each point is quenched to its local
    minimum, the distinct minima are grouped by overlap ``>= overlap_threshold`` in
    increasing energy (leader clustering, mirrors never joined). Returns ``(labels (m,),
    representatives (k, n) int8)``, representatives in increasing energy."""
    minima = quench(model, data)
    uniq, inverse, _ = unique_states(minima)
    leaders, assignment = cluster_minima(uniq, energies_of(model, uniq), overlap_threshold)
    return assignment[inverse], uniq[leaders]


def _merge_small(labels, data, min_size):
    """Relabel points of clusters smaller than ``min_size`` to the large cluster whose mean
    spin they overlap most; returns labels ``0..K-1`` (largest first)."""
    ids, counts = np.unique(labels, return_counts=True)
    large = ids[counts >= min_size]
    if not len(large):
        raise ValueError(
            f"No cluster has `min_size`={min_size} points or more; lower `min_size` or give "
            "`labels`."
        )
    centres = np.stack([data[labels == i].mean(0) for i in large])
    out = labels.copy()
    small = ~np.isin(labels, large)
    if small.any():
        out[small] = large[np.argmax(data[small] @ centres.T, axis=1)]
    ids, counts = np.unique(out, return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    remap = {old: new for new, old in enumerate(order)}
    return np.array([remap[v] for v in out])


class MixtureComponent(NamedTuple):
    """One component: its model, weight, ``log Z`` at the mixture's ``beta``, the number of
    data points it was fitted to, and its centre (the sign of the cluster's mean spin)."""

    model: SpinModel
    weight: float
    log_z: float
    size: int
    centre: np.ndarray


class BasinMixture:
    """``p(s) = sum_a w_a exp(-beta E_a(s)) / Z_a``; build it with :meth:`fit`."""

    def __init__(self, components, beta: float, labels=None):
        self.components = list(components)
        self.beta = float(check_beta(beta, positive="for a normalised mixture"))
        self.labels = labels
        if not self.components:
            raise ValueError("A BasinMixture needs at least one component.")
        self.n = self.components[0].model.n

    def __repr__(self) -> str:
        w = ", ".join(f"{c.weight:.3f}" for c in self.components)
        return f"BasinMixture(n={self.n}, {len(self.components)} components, weights [{w}])"

    @property
    def weights(self) -> np.ndarray:
        return np.array([c.weight for c in self.components])

    @classmethod
    def fit(
        cls, data, base: SpinModel | None = None, beta: float = 1.0, *, labels="basins",
        orders=(1, 2), l2: float = 1e-2, min_size: int = MIN_CLUSTER_SIZE,
        overlap_threshold: float = OVERLAP_THRESHOLD,
    ) -> BasinMixture:  # fmt: skip
        """Fit one reduced model per basin of ``data`` (±1 or 0/1, ``(samples, n)``, n <= 20).

        ``labels="basins"``: quench every point under ``base`` (default: the maximum-likelihood
        model of ``orders`` fitted to all the data with the same ``l2``,
        ``ep.thermo.reduce(method="fit")``) and
        group the minima by overlap (:func:`basin_labels`); or an integer array of labels.
        Clusters with fewer than ``min_size`` points are merged into the large cluster whose
        mean spin they overlap most (the rule: a model of ``orders`` needs enough points for
        its moments). Each cluster gets ``ep.thermo.reduce(data=cluster, orders=orders,
        method="fit", l2=l2, temperature=1/beta)``; ``l2`` keeps the fields finite where a
        spin never flips within a cluster. Weights: the clusters' shares of the data.
        """
        from .thermo.reduced import reduce

        beta = float(check_beta(beta, positive="for a normalised mixture"))
        min_size = check_count("min_size", min_size, 1)
        x = np.asarray(as_spin_data(data))
        n = x.shape[1]
        if n > MAX_TABLE_N:
            raise NotImplementedError(
                f"BasinMixture.fit enumerates each component's log Z; n={n} > {MAX_TABLE_N} "
                "needs the persistent-chain path (issue 11, still to come)."
            )
        if isinstance(labels, str):
            if labels != "basins":
                raise ValueError(f'`labels` must be "basins" or an array; got {labels!r}.')
            if base is None:
                base = reduce(data=x, orders=orders, method="fit", l2=l2, temperature=1 / beta)
            raw, _ = basin_labels(base, x, overlap_threshold)  # quench: beta-independent
        else:
            raw = np.asarray(labels)
            if raw.shape != (len(x),) or not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(
                    f"`labels` must be an integer array of shape ({len(x)},); got "
                    f"{raw.dtype}{raw.shape}."
                )
        final = _merge_small(raw, x, min_size)
        components = []
        for a in range(final.max() + 1):
            rows = x[final == a]
            model = reduce(data=rows, orders=orders, method="fit", l2=l2, temperature=1 / beta)
            centre = np.where(rows.mean(0) >= 0, 1, -1).astype(np.int8)
            components.append(
                MixtureComponent(
                    model, len(rows) / len(x), float(exact_log_z(model, beta)), len(rows), centre
                )
            )
        return cls(components, beta, labels=final)

    def component_log_probs(self, spins) -> jax.Array:
        """``log w_a - beta E_a(s) - log Z_a`` per component, ``(..., K)``."""
        s = jnp.asarray(as_spin_data(spins, self.n), jnp.float32)
        parts = [
            np.log(c.weight) - self.beta * c.model._energy(s) - c.log_z for c in self.components
        ]
        return jnp.stack(parts, axis=-1)

    def log_prob(self, spins) -> jax.Array:
        """``log p(s)`` of spins ``(..., n)``: exact (every component's ``log Z`` enumerated)."""
        return logsumexp(self.component_log_probs(spins), axis=-1)

    def responsibilities(self, spins) -> jax.Array:
        """``p(a | s)``, ``(..., K)``."""
        parts = self.component_log_probs(spins)
        return jnp.exp(parts - logsumexp(parts, axis=-1, keepdims=True))

    def sample(self, key, num: int, *, num_warmup: int = 200) -> np.ndarray:
        """``num`` draws ``(num, n) int8``: a component by its weight, then ``num_warmup``
        heat-bath sweeps within it from its centre (independent chains, vectorised)."""
        from .kernels.gibbs import run_chains

        num = check_count("num", num, 1)
        key_pick, key_run = jax.random.split(key)
        picks = np.asarray(
            jax.random.choice(key_pick, len(self.components), (num,), p=jnp.asarray(self.weights))
        )
        out = np.empty((num, self.n), np.int8)
        for a, c in enumerate(self.components):
            rows = np.flatnonzero(picks == a)
            if not len(rows):
                continue
            trace = run_chains(
                c.model, self.beta, jax.random.fold_in(key_run, a), num_chains=len(rows),
                num_draws=1, num_warmup=num_warmup,
                init_spins=np.repeat(c.centre[None], len(rows), 0),
            )  # fmt: skip
            out[rows] = np.asarray(trace.spins)[:, -1]
        return out

    def nearest_pattern_labels(self, spins, patterns, overlap_threshold=OVERLAP_THRESHOLD):
        """Index of the first of ``patterns`` each state overlaps by ``>= overlap_threshold``
        (or -1): for comparing sample and data frequencies per pattern."""
        return label_by_overlap(as_spin_data(spins, self.n), patterns, overlap_threshold)
