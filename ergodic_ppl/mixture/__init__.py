"""One model per free-energy minimum: the per-basin mixture (docs/THEORY.md A.6, the remedy).

When a single reduced model breaks ergodicity (its chains cannot move between the bound states
of the data) each bound state gets its own model:

    p(s) = sum_a w_a exp(-beta E_a(s)) / Z_a      (E_a: the visible free energy F_a of an RBM)

:class:`BasinMixture` is a scikit-learn-shaped estimator (hyper-parameters in the
constructor, ``fit(data) -> self``, ``score_samples``, ``score``, ``predict``,
``predict_proba``, ``sample``, ``save`` / ``load``):

1. **Labels** (:mod:`.labels`). Every row is quenched under the *base* model (given, or fitted
   to all the data): its energy, or an RBM's visible free energy.  The distinct minima are
   grouped by overlap (``n_components=None``: the landscape decides the count), or into
   ``n_components`` clusters by k-means, or into each count of a grid, the one with the best
   validation log-likelihood kept (``selection_`` holds the curve).  Labels may also come from
   the user or from an :class:`~ergodic_ppl.diagnostics.ErgodicityReport`'s basins
   (:meth:`BasinMixture.from_report`).
2. **Small clusters** (fewer than ``min_size`` points) join the large cluster whose mean spin
   they overlap most: a model needs enough points for its moments.
3. **Components** (:mod:`.components`): exact maximum likelihood for n <= 20; persistent
   chains beyond; an RBM base is fine-tuned on each cluster's rows with the compiled PCD step,
   its ``log Z`` bracketed (forward AIS, reverse AIS from the rows, BAR between).
4. **Weights.** ``weights="data"``: the clusters' shares of the data. ``"free_energy"``:
   ``w_a ∝ exp(-beta F_a)``, ``F_a`` the free energy of basin ``a`` of the base model
   (``exp(-beta F_a) = sum over the states quenched into cluster a of exp(-beta E(s))``,
   enumerated for n <= 20, sampled by parallel tempering beyond).

Each component is (nearly) single-basin, so Gibbs within it mixes fast: :meth:`sample` draws
a component, then sweeps from its centre.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from ..basins.landscape import OVERLAP_THRESHOLD, label_by_overlap
from ..checks import check_beta, check_count
from ..exact import ENUMERATION_LIMIT, all_states
from ..learning.hidden import minus_beta_energy
from ..spins import SpinModel
from ..thermo.data import as_spin_data
from .components import MixtureComponent, fitter_for, likely_hidden
from .distribution import BasinMixtureSpins
from .labels import (
    Grouping,
    basin_labels,
    basin_minima,
    centre_of,
    kmeans_labels,
    merge_small,
    overlap_labels,
)

__all__ = ["BasinMixture", "BasinMixtureSpins", "MixtureComponent", "MixtureScore",
           "basin_labels"]  # fmt: skip

#: clusters with fewer points than this are merged into the nearest larger one
MIN_CLUSTER_SIZE = 20
WEIGHTS = ("data", "free_energy")
#: share of the data held out to choose ``n_components`` from a grid when no ``valid`` is given
VALIDATION_FRACTION = 0.1
#: parallel tempering of the base model for ``weights="free_energy"`` (n > 20)
DEFAULT_TEMPERING = {"num_rungs": 8, "num_chains": 16, "num_draws": 500, "num_warmup": 200}


def check_n_components(k) -> tuple[int, ...] | None:
    """``n_components`` as the grid of counts to fit (None: the basins by overlap); a clear
    error for anything but None, a count >= 1 or a non-empty sequence of them."""
    if k is None:
        return None
    if isinstance(k, Sequence) and not isinstance(k, str):
        if not len(k):
            raise ValueError("`n_components` is an empty sequence; give counts like (2, 4).")
        return tuple(check_count("n_components", v, 1) for v in k)
    return (check_count("n_components", k, 1),)


class MixtureScore(NamedTuple):
    """Mean log-likelihood per row with the ``log Z_a`` values (``value``: BAR for RBM
    components), its ``bracket``: the same with every ``log Z_a`` at its reverse-AIS end,
    then at its forward-AIS end (low, then high in expectation; the ends can cross when the
    annealing is short or the rows a reverse run starts from are not draws of the model),
    ``stderr`` from the ``log Z_a`` and weight errors (the model's, not the rows' spread), and
    ``data_stderr`` (the rows' spread, ``std / sqrt(rows)``)."""

    value: float
    bracket: tuple[float, float]
    stderr: float
    data_stderr: float


class BasinMixture:
    """``p(s) = sum_a w_a exp(-beta E_a(s)) / Z_a``: one model per basin of the data.

    Parameters
    ----------
    n_components : None, int or sequence of int
        None: the basins the landscape gives (minima grouped by ``overlap_threshold``). An
        int: the minima grouped into that many clusters (k-means). A sequence: each count is
        fitted and the one with the best log-likelihood on ``valid`` (or on a held-out
        ``validation_fraction`` of the data) is kept; ``selection_`` holds the curve.
    base : SpinModel, optional
        The model every point is quenched under.  A fully visible model, or an RBM
        (:meth:`SpinModel.rbm`, one visible spin per column) whose components are the base
        fine-tuned on each cluster.  Default: the maximum-likelihood model of ``orders``
        fitted to all the data (exact for n <= 20, else persistent chains).
    beta : float
        Inverse temperature of every component (``> 0``).
    weights : ``"data"`` or ``"free_energy"``
        The clusters' data shares, or ``∝ exp(-beta F_a)`` with ``F_a`` the free energy of the
        base model's states that quench into cluster ``a`` (enumerated for n <= 20; parallel
        tempering of the base model beyond, ``tempering_options``: ``num_rungs``,
        ``num_chains``, ``num_draws``, ``num_warmup``; the weights then carry the
        delta-method error of each basin's probability, from its ESS).
    orders : tuple
        Interaction orders of fully visible components: ``(1, 2)`` or ``(1,)``; any Walsh
        orders for n <= 20.
    l2 : float
        Ridge penalty on fully visible components' couplings.
    min_size : int
        Clusters with fewer points join the large cluster whose mean spin they overlap most.
    overlap_threshold : float
        Minima overlapping by at least this much are one basin (``n_components=None``).
    validation_fraction : float
        Share of the data held out to choose among a grid of ``n_components`` when ``fit`` is
        given no ``valid`` rows.
    fit_options : dict, n > 20
        Keywords for ``ep.learning.fit`` of each component (:data:`.components.RBM_FIT_OPTIONS`
        for an RBM base, :data:`.components.PAIRWISE_FIT_OPTIONS` otherwise), plus
        ``learning_rate``, ``learning_rate_decay`` (``"cosine"`` or ``"constant"``) or your own
        ``optimizer``.
    log_z_options : dict, n > 20
        AIS budget of each component's ``log Z`` (``num_chains``, ``num_steps``).
    key : jax.random key or int
        Needed when n > 20 (persistent chains, AIS), for sampled free-energy weights and
        as the default key of :meth:`sample`.

    Attributes (after :meth:`fit`)
    ------------------------------
    components_ : list of :class:`MixtureComponent`, largest cluster first
    weights_ : array ``(K,)``
    labels_ : array, the final cluster of every row the components were fitted to
    fit_rows_ : array or None, those rows' indices in ``data`` when a grid was chosen on a
        held-out ``validation_fraction`` of it (None: all rows)
    base_ : SpinModel or None (given labels and data weights need none)
    n_components_ : int
    n_features_in_ : int, the visible spins
    selection_ : list of dict or None: per count of the grid, the validation score
    exact_ : bool, every ``log Z_a`` enumerated
    """

    def __init__(
        self, n_components=None, *, base: SpinModel | None = None, beta: float = 1.0,
        weights: str = "data", orders=(1, 2), l2: float = 1e-2,
        min_size: int = MIN_CLUSTER_SIZE, overlap_threshold: float = OVERLAP_THRESHOLD,
        validation_fraction: float = VALIDATION_FRACTION, fit_options: dict | None = None,
        log_z_options: dict | None = None, tempering_options: dict | None = None, rng_key=None,
    ):  # fmt: skip
        self.n_components = n_components
        self.base = base
        self.beta = beta
        self.weights = weights
        self.orders = orders
        self.l2 = l2
        self.min_size = min_size
        self.overlap_threshold = overlap_threshold
        self.validation_fraction = validation_fraction
        self.fit_options = fit_options
        self.log_z_options = log_z_options
        self.tempering_options = tempering_options
        self.rng_key = rng_key
        self.components_ = None

    def __repr__(self) -> str:
        if self.components_ is None:
            return f"BasinMixture(n_components={self.n_components!r}, unfitted)"
        w = ", ".join(f"{c.weight:.3f}" for c in self.components_)
        return (f"BasinMixture(n={self.n_features_in_}, {len(self.components_)} components, "
                f"weights [{w}])")  # fmt: skip

    # -------------------------------------------------------------------------- checking
    def _checked(self, x):
        beta = float(check_beta(self.beta, positive="for a normalised mixture"))
        check_count("min_size", self.min_size, 1)
        if self.weights not in WEIGHTS:
            raise ValueError(f"`weights` must be one of {WEIGHTS}; got {self.weights!r}.")
        try:
            fraction = float(self.validation_fraction)
        except (TypeError, ValueError):
            fraction = math.nan
        if not 0 < fraction < 1:
            raise ValueError(
                f"`validation_fraction` must be a number in (0, 1); got "
                f"{self.validation_fraction!r}."
            )
        n = x.shape[1]
        base = self.base
        if base is not None:
            if not isinstance(base, SpinModel):
                raise ValueError(f"`base` must be a SpinModel; got {type(base).__name__}.")
            if base.n != n and not (base.is_bipartite and base.n_visible == n):
                raise ValueError(
                    f"`base` has {base.n} spins and the data {n} columns: give a fully visible "
                    f"model of {n} spins or an RBM (SpinModel.rbm) with {n} visible spins."
                )
        key = self.rng_key
        if isinstance(key, int | np.integer):
            key = jax.random.key(int(key))
        if key is None and n > ENUMERATION_LIMIT:
            raise ValueError(
                f"n={n} > {ENUMERATION_LIMIT}: the components are trained with persistent chains and "
                "their log Z estimated by AIS; pass `rng_key=jax.random.key(0)`."
            )
        return beta, key

    # --------------------------------------------------------------------------- fitting
    def fit(self, data, labels=None, *, valid=None) -> BasinMixture:
        """Fit one model per basin of ``data`` (±1 spins, ``(rows, n)``); returns ``self``.

        0/1 bits are refused: convert them with ``ep.bits_to_spins(bits)`` (bit 0 -> +1).

        ``labels`` (integer array ``(rows,)``): the user's clusters instead of basins
        (``n_components`` must then be None).  ``valid`` (rows of the same width): where a
        grid of ``n_components`` is scored; default a held-out ``validation_fraction`` of
        ``data`` (the components are then fitted to the rest).
        """
        x = np.asarray(as_spin_data(data))
        beta, key = self._checked(x)
        n = x.shape[1]
        grid = check_n_components(self.n_components)
        if labels is not None:
            if grid is not None:
                raise ValueError("Give `labels` or `n_components`, not both.")
            labels = np.asarray(labels)
            if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(
                    f"`labels` must be an integer array of shape ({len(x)},); got "
                    f"{labels.dtype}{labels.shape}."
                )
        self.fit_rows_ = None
        if grid is not None and len(grid) > 1:
            if valid is None:
                rng = np.random.default_rng(0)
                held = rng.permutation(len(x))[: max(1, round(self.validation_fraction * len(x)))]
                self.fit_rows_ = np.setdiff1d(np.arange(len(x)), held)
                x, valid = x[self.fit_rows_], x[np.sort(held)]
            valid = np.asarray(as_spin_data(valid, n, "valid"))
        elif valid is not None:
            raise ValueError(
                "`valid` rows choose among a grid of `n_components`, e.g. n_components=(2, 4, "
                "8); this mixture has none: drop `valid` or give a grid."
            )
        fitter = fitter_for(self.base, n, beta, key, self.orders, self.l2, self.fit_options,
                            self.log_z_options)  # fmt: skip
        base = self.base
        if base is None and (labels is None or self.weights == "free_energy"):
            base = fitter.model(x, "base")
        self.base_, self.n_features_in_, self._beta = base, n, beta
        self.selection_ = None
        minima = None if labels is not None else basin_minima(base, x, beta)
        candidates = []
        for k in grid or (None,):
            comps, final, grouping = self._fit_for(x, labels, minima, k, base, fitter, key)
            candidates.append((k, comps, final, grouping))
        if len(candidates) > 1:
            scores = [self._set(*c[1:]).score_bracket(valid) for c in candidates]
            self.selection_ = [
                {"n_components": k, "num_components": len(comps), "valid_log_likelihood": s.value,
                 "valid_bracket": list(s.bracket), "valid_stderr": s.stderr}
                for (k, comps, *_), s in zip(candidates, scores, strict=True)
            ]  # fmt: skip
            best = int(np.argmax([s.value for s in scores]))
            candidates = [candidates[best]]
        self._set(*candidates[0][1:])
        return self

    def _set(self, components, labels, grouping) -> BasinMixture:
        self.components_, self.labels_, self._grouping = components, labels, grouping
        self.n_components_ = len(components)
        self.exact_ = (all(c.log_z_stderr == 0 for c in components)
                       and self.n_features_in_ <= ENUMERATION_LIMIT)  # fmt: skip
        self._table = None
        return self

    def _fit_for(self, x, labels, minima, k, base, fitter, key):
        """Components for one clustering: given ``labels``, basins by overlap (``k`` None)
        or ``k`` k-means groups of the ``minima``."""
        threshold = self.overlap_threshold
        if labels is not None:
            raw, grouping = labels, None
        elif k is None:
            raw, representatives = overlap_labels(base, minima, threshold, self._beta)
            grouping = (representatives, threshold)
        else:
            raw, centroids = kmeans_labels(minima, k)
            grouping = (centroids, None)
        final, mapping = merge_small(raw, x, self.min_size)
        num = int(final.max()) + 1
        if k is not None and num < k:
            warnings.warn(
                f"n_components={k}: the data's basin minima give only {num} cluster(s) of at "
                f"least `min_size`={self.min_size} rows; fitting {num}.",
                stacklevel=3,
            )
        if grouping is not None:
            grouping = Grouping(base, grouping[0], mapping, grouping[1], self._beta)
        w, w_se = self._weights(x, final, num, base, grouping, key)
        components = []
        for a in range(num):
            rows = x[final == a]
            model = fitter.model(rows, a)
            log_z, log_z_se, bracket = fitter.log_z(model, rows, a)
            components.append(MixtureComponent(model, float(w[a]), log_z, len(rows),
                                               centre_of(rows),
                                               log_z_se, float(w_se[a]), bracket))  # fmt: skip
        return components, final, grouping

    def _weights(self, x, final, num, base, grouping, key):
        if self.weights == "data":
            return np.bincount(final, minlength=num) / len(x), np.zeros(num)
        if grouping is None:  # the clusters' centres stand for their basins
            centres = np.stack([centre_of(x[final == a]) for a in range(num)])
            grouping = Grouping(base, centres, {a: a for a in range(num)},
                                self.overlap_threshold, self._beta)  # fmt: skip
        return _free_energy_weights(base, self._beta, grouping, num, key, self.tempering_options)

    @classmethod
    def from_report(cls, report, data, *, beta=None, **params) -> BasinMixture:
        """The remedy an :class:`~ergodic_ppl.diagnostics.ErgodicityReport` names: label every
        data point by the report's basins (the first basin minimum it overlaps by
        ``>= overlap_threshold``, else the one it overlaps most) and fit one model per basin.
        ``beta`` defaults to the report's; ``params`` go to the constructor.  Returns the
        fitted mixture."""
        landscape = getattr(report, "landscape", None)
        if landscape is None or len(landscape.minima) == 0:
            raise ValueError(
                "`report` has no basins (ep.diagnose(..., basins=True) with a SpinModel gives "
                "them); or call BasinMixture().fit(data) to find the basins from the data."
            )
        if beta is None:
            beta = report.beta
            if beta is None or np.ndim(beta) != 0:
                raise ValueError("The report records no scalar `beta`; pass `beta=`.")
        threshold = params.get("overlap_threshold", OVERLAP_THRESHOLD)
        x = np.asarray(as_spin_data(data, landscape.minima.shape[1]))
        minima = np.asarray(landscape.minima)
        labels = label_by_overlap(x, minima, threshold)
        nearest = np.argmax(x.astype(np.float32) @ minima.T.astype(np.float32), axis=1)
        labels = np.where(labels >= 0, labels, nearest).astype(np.int64)
        return cls(beta=float(beta), **params).fit(x, labels)

    # ---------------------------------------------------------------------------- density
    def _fitted(self):
        if self.components_ is None:
            raise ValueError("This BasinMixture is not fitted yet: call .fit(data) first.")

    def _rows(self, X, name="X") -> np.ndarray:
        self._fitted()
        return np.asarray(as_spin_data(X, self.n_features_in_, name))

    def _terms(self, x, ends=None) -> np.ndarray:
        """``log w_a - beta E_a(x) - log Z_a`` per row and component, ``(rows, K)`` float64;
        ``ends`` 0 / 1: every ``log Z_a`` at the forward / reverse end of its bracket."""
        cols = []
        for c in self.components_:
            log_z = c.log_z if ends is None else c.log_z_range[ends]
            cols.append(np.log(c.weight) + minus_beta_energy(c.model, x, self._beta) - log_z)
        return np.stack(cols, axis=-1)

    def score_samples(self, X) -> np.ndarray:
        """``log p(x)`` of every row of ``X`` ``(rows, n)``: exact for n <= 20 (every
        ``log Z_a`` enumerated), with the estimated ``log Z_a`` beyond (:meth:`score_bracket`
        gives the errors)."""
        return logsumexp(self._terms(self._rows(X)), axis=-1)

    def score(self, X) -> float:
        """Mean ``log p`` per row of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def score_bracket(self, X) -> MixtureScore:
        """Mean ``log p`` per row with its ``log Z`` bracket and errors (:class:`MixtureScore`).
        The model error is ``sqrt(sum_a rbar_a^2 var_a)``, ``rbar_a`` the mean responsibility
        and ``var_a`` the variance of ``log Z_a`` plus that of ``log w_a`` (the same
        ``log Z_a`` enters every row)."""
        x = self._rows(X)
        terms = self._terms(x)
        log_p = logsumexp(terms, axis=-1)
        r = np.exp(terms - log_p[:, None]).mean(0)
        var = np.array([c.log_z_stderr**2 + (c.weight_stderr / c.weight) ** 2
                        for c in self.components_])  # fmt: skip
        low = float(np.mean(logsumexp(self._terms(x, 1), axis=-1)))
        high = float(np.mean(logsumexp(self._terms(x, 0), axis=-1)))
        spread = float(log_p.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
        return MixtureScore(float(log_p.mean()), (low, high), float(np.sqrt((r**2 * var).sum())),
                            spread)  # fmt: skip

    def predict_proba(self, X) -> np.ndarray:
        """``p(a | x)``, the component responsibilities, ``(rows, K)``."""
        terms = self._terms(self._rows(X))
        return np.exp(terms - logsumexp(terms, axis=-1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """The most probable component of every row."""
        return np.argmax(self._terms(self._rows(X)), axis=-1)

    @property
    def weights_(self) -> np.ndarray:
        self._fitted()
        return np.array([c.weight for c in self.components_])

    def log_prob_table(self) -> np.ndarray:
        """``log p`` of all ``2^n`` states in ``ep.exact.all_states`` order (n <= 20,
        cached)."""
        self._fitted()
        if self.n_features_in_ > ENUMERATION_LIMIT:
            raise ValueError(
                f"n={self.n_features_in_} > {ENUMERATION_LIMIT}: too many states to enumerate."
            )
        if self._table is None:
            self._table = self.score_samples(all_states(self.n_features_in_))
        return self._table

    # --------------------------------------------------------------------------- sampling
    def sample(self, n_samples: int = 1, *, rng_key=None, num_warmup: int = 200):
        """``(states (n_samples, n) int8, components (n_samples,))``: a component by its
        weight, then ``num_warmup`` heat-bath sweeps within it from its centre (independent
        chains, vectorised per component, in power-of-two batches so that repeated calls
        reuse the compiled sweeps).  Exact in the limit of long warm-up as long as each
        component is one basin (the point of the mixture); tests check it by chi-square.
        ``rng_key`` defaults to the constructor's."""
        from ..kernels.gibbs import run_chains

        self._fitted()
        num = check_count("n_samples", n_samples, 1)
        rng_key = self.rng_key if rng_key is None else rng_key
        if rng_key is None:
            raise ValueError(
                "pass `rng_key=jax.random.key(0)` (or give the constructor an `rng_key`)."
            )
        if isinstance(rng_key, int | np.integer):
            rng_key = jax.random.key(int(rng_key))
        key_pick, key_run = jax.random.split(rng_key)
        picks = np.asarray(jax.random.choice(key_pick, len(self.components_), (num,),
                                             p=jnp.asarray(self.weights_)))  # fmt: skip
        out = np.empty((num, self.n_features_in_), np.int8)
        for a, c in enumerate(self.components_):
            rows = np.flatnonzero(picks == a)
            if not len(rows):
                continue
            # Chains in power-of-two buckets: the compiled shapes repeat from call to call.
            chains = 1 << max(3, int(len(rows) - 1).bit_length())
            trace = run_chains(
                c.model, self._beta, jax.random.fold_in(key_run, a), num_chains=chains,
                num_draws=1, num_warmup=num_warmup, init_spins=_start(c, chains),
            )  # fmt: skip
            out[rows] = np.asarray(trace.spins)[: len(rows), -1, : self.n_features_in_]
        return out, picks.astype(np.int64)

    def as_distribution(self, *, num_warmup: int = 200, validate_args=None):
        """The mixture as a NumPyro distribution, for ``numpyro.sample("s",
        mixture.as_distribution())`` (:class:`BasinMixtureSpins`)."""
        self._fitted()
        return BasinMixtureSpins(self, num_warmup=num_warmup, validate_args=validate_args)

    # ---------------------------------------------------------------------- thermodynamics
    def landscape(self, component: int, *, rng_key=None, num_chains: int = 16, num_draws=500):
        """The basins of one fully visible component's model: exact (n <= 20,
        ``ep.basins.exact_landscape``) or sampled from ``num_chains`` Gibbs chains started
        at the component's centre (``rng_key`` needed). Feed it to ``ep.basins.basin_graph``."""
        from ..basins.landscape import exact_landscape, sampled_landscape
        from ..kernels.gibbs import run_chains

        c = self.components_[self._component_index(component)]
        if c.model.n != self.n_features_in_:
            raise ValueError("`landscape` needs fully visible components; these are RBMs.")
        if self.n_features_in_ <= ENUMERATION_LIMIT:
            return exact_landscape(c.model, self._beta)
        if rng_key is None:
            raise ValueError(
                f"n={self.n_features_in_} > {ENUMERATION_LIMIT}: the landscape is sampled; pass `rng_key=`."
            )
        trace = run_chains(
            c.model, self._beta, rng_key, num_chains=num_chains, num_draws=num_draws, num_warmup=100,
            init_spins=np.repeat(c.centre[None], num_chains, 0),
        )  # fmt: skip
        return sampled_landscape(c.model, np.asarray(trace.spins))

    def basin_graph(self, component: int, **landscape_kwargs):
        """``networkx`` basin graph of one component (``ep.basins.basin_graph`` of
        :meth:`landscape`), with probabilities and free energies at the mixture's beta."""
        from ..basins.graph import basin_graph

        c = self.components_[self._component_index(component)]
        land = self.landscape(component, **landscape_kwargs)
        if land.exact:
            return basin_graph(land, beta=self._beta)
        return basin_graph(land, beta=self._beta, log_z=c.log_z)

    def nearest_pattern_labels(self, spins, patterns, overlap_threshold=OVERLAP_THRESHOLD):
        """Index of the first of ``patterns`` each state overlaps by ``>= overlap_threshold``
        (or -1): for comparing sample and data frequencies per pattern."""
        return label_by_overlap(self._rows(spins, "spins"), patterns, overlap_threshold)

    def _component_index(self, component) -> int:
        self._fitted()
        k = len(self.components_)
        a = check_count("component", component, 0)
        if a >= k:
            raise ValueError(f"`component` must be in 0..{k - 1}; got {a}.")
        return a

    def to_dataframe(self):
        """One row per component: weight (± error), data points, ``log Z`` (± error and its
        bracket), free energy ``F_a = -log Z_a / beta`` and the mixture's free energy of the
        component ``-(log w_a + log Z_a) / beta``."""
        import pandas as pd

        self._fitted()
        rows = []
        for a, c in enumerate(self.components_):
            rows.append({
                "component": a, "weight": c.weight, "weight_stderr": c.weight_stderr,
                "size": c.size, "log_z": c.log_z, "log_z_stderr": c.log_z_stderr,
                "log_z_forward": c.log_z_range[0], "log_z_reverse": c.log_z_range[1],
                "free_energy": -c.log_z / self._beta,
                "mixture_free_energy": -(np.log(c.weight) + c.log_z) / self._beta,
            })  # fmt: skip
        return pd.DataFrame(rows).set_index("component")

    # ------------------------------------------------------------------------------- files
    def save(self, path) -> Path:
        """Write the fitted mixture to ``path`` (``.npz``; docs/DESIGN.md, "BasinMixture
        files"): ``format``, ``beta``, ``weights``, ``weight_stderr``, ``sizes``,
        ``centres``, ``log_z``, ``log_z_stderr``, ``log_z_forward``, ``log_z_reverse``, ``labels``,
        ``selection`` (JSON) and, per component ``k``, ``W_k``, ``b_k``, ``c_k`` in 0/1 units
        (an RBM, as :meth:`SpinModel.to_bernoulli_rbm`) or ``fields_k``, ``couplings_k`` in
        ±1 units (fully visible)."""
        from .files import save_mixture

        self._fitted()
        return save_mixture(self, path)

    @classmethod
    def load(cls, path) -> BasinMixture:
        """A mixture written by :meth:`save`; scores and samples as the saved one did."""
        from .files import load_mixture

        return load_mixture(cls, path)


def _start(component, chains) -> np.ndarray:
    """Chains at the component's centre; an RBM's hidden spins at the sign of their field."""
    v = np.repeat(component.centre[None], chains, 0)
    if component.model.n == v.shape[1]:
        return v
    return np.concatenate([v, likely_hidden(component.model, v)], axis=1)


def _free_energy_weights(base, beta, assign, num, key, options):
    """``w_a = exp(-beta F_a) / sum_b exp(-beta F_b)``: the base model's probability of the
    states assigned to cluster ``a``; exact for n <= 20, parallel tempering beyond (the
    share of target-rung draws, error from the indicator's ESS). Returns ``(w, stderr)``."""
    n = base.n
    if n <= ENUMERATION_LIMIT:
        states = all_states(n)
        log_p = -beta * np.asarray(base.energy(states), np.float64)
        p = np.exp(log_p - log_p.max())
        labels = assign(states)
        inside = labels >= 0
        w = np.bincount(labels[inside], weights=p[inside], minlength=num)
        return w / w.sum(), np.zeros(num)
    from ..free_energy.basins import basin_free_energies
    from ..kernels.tempering import run_tempering

    if key is None:
        raise ValueError(
            '`weights="free_energy"` with n > 20 samples the base model; pass `rng_key=`.'
        )
    o = {**DEFAULT_TEMPERING, **(options or {})}
    betas = beta * np.geomspace(1.0, 0.1, o["num_rungs"])
    trace = run_tempering(
        base, betas, jax.random.fold_in(key, 99_999), num_chains=o["num_chains"],
        num_draws=o["num_draws"], num_warmup=o["num_warmup"], keep_all_rungs=False,
    )  # fmt: skip
    spins = np.asarray(trace.spins)
    nv = assign.representatives.shape[1]
    labels = assign(spins[..., :nv].reshape(-1, nv)).reshape(spins.shape[:2])
    est = basin_free_energies(labels, beta, num_basins=num)
    p = est.probability
    if np.any(p == 0):
        raise ValueError(
            f"The tempering chains of the base model never visited cluster(s) "
            f"{np.flatnonzero(p == 0).tolist()}: raise `tempering_options` num_draws / "
            'num_chains, or use weights="data".'
        )
    se_log_p = np.nan_to_num(est.free_energy_stderr * beta, nan=0.0)
    return p / p.sum(), p * se_log_p / p.sum()  # renormalised over the clusters' basins
