"""One model per free-energy minimum: the per-basin mixture (THEORY.md A.6, the remedy).

When a single reduced model breaks ergodicity (its chains cannot move between the bound states
of the data) each bound state gets its own model:

    p(s) = sum_a w_a exp(-beta E_a(s)) / Z_a

1. **Labels.** Every data point is quenched under a model fitted to all the data (the *base*
   model), the minima are grouped by overlap (:func:`basin_labels`); or the labels come from
   the user, or from an :class:`~ergodic_ppl.diagnostics.ErgodicityReport`'s basins
   (:meth:`BasinMixture.from_report`).
2. **Small clusters** (fewer than ``min_size`` points) join the large cluster whose mean spin
   they overlap most: a model of fields and couplings needs enough points for its moments.
3. **Components.** One reduced model per cluster with the project's own fitting: exact
   maximum likelihood for n <= 20 (``ep.thermo.reduce(method="fit")``, exact ``log Z``),
   persistent-chain training beyond (``ep.learning.fit``, ``log Z`` by AIS with its error).
4. **Weights.** ``weights="data"``: the clusters' shares of the data. ``"free_energy"``:
   ``w_a ∝ exp(-beta F_a)``, ``F_a`` the free energy of basin ``a`` of the base model
   (``exp(-beta F_a) = sum over the states quenched into cluster a of exp(-beta E(s))``,
   enumerated for n <= 20, sampled by parallel tempering beyond).

Each component is (nearly) single-basin, so Gibbs within it mixes fast: :meth:`sample` draws
a component, then sweeps from its centre.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
from numpyro.distributions import Distribution

from .basins.descent import energies_of, quench, unique_states
from .basins.landscape import cluster_minima, label_by_overlap
from .checks import check_beta, check_count
from .distributions import spin_support
from .exact import all_states
from .exact import log_z as exact_log_z
from .spins import SpinModel
from .spins.values import _check_spin_shape, _check_spin_values, _is_concrete
from .thermo.data import MAX_TABLE_N, as_spin_data

__all__ = ["BasinMixture", "BasinMixtureSpins", "MixtureComponent", "basin_labels"]

#: clusters with fewer points than this are merged into the nearest larger one
MIN_CLUSTER_SIZE = 20
OVERLAP_THRESHOLD = 0.6
WEIGHTS = ("data", "free_energy")
#: ridge on the fields (n <= 20): small, so the fields keep their maximum-likelihood values,
#: yet a spin that never flips within a cluster gets a finite field (about 5 at l2 = 1e-4)
FIELD_L2 = 1e-4

#: persistent-chain training of each component (n > 20), overridden by ``fit_options``.
#: The Adam rate decays to 0 over the updates (cosine): at a constant rate the last PCD
#: snapshot is noisy (binarised digits, held-out LL of one BM over 6 seeds: -17.92 +- 0.02
#: decayed against -24.1 +- 0.8 constant; benchmarks/bench_mixture.py).
DEFAULT_FIT_OPTIONS = {
    "steps": 1000, "num_chains": 128, "batch_size": 100, "learning_rate": 1e-2,
    "learning_rate_decay": "cosine", "num_warmup": 100, "monitor": False, "num_ais_chains": 0,
}  # fmt: skip
LEARNING_RATE_DECAYS = ("cosine", "constant")
#: AIS budget for each component's log Z (n > 20), overridden by ``log_z_options``
DEFAULT_LOG_Z_OPTIONS = {"num_chains": 256, "num_steps": 1000}
#: parallel tempering of the base model for ``weights="free_energy"`` (n > 20)
DEFAULT_TEMPERING = {"num_rungs": 8, "num_chains": 16, "num_draws": 500, "num_warmup": 200}


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
    spin they overlap most; returns ``(labels 0..K-1 largest first, map old -> new)``."""
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
    mapping = {int(old): int(remap[new]) for old, new in zip(labels, out, strict=True)}
    return np.array([remap[v] for v in out]), mapping


def _centres(x, labels, num) -> np.ndarray:
    """The sign of each cluster's mean spin (ties +1), ``(num, n) int8``."""
    return np.stack([np.where(x[labels == a].mean(0) >= 0, 1, -1) for a in range(num)]).astype(
        np.int8
    )


class MixtureComponent(NamedTuple):
    """One component: its model, weight, ``log Z`` at the mixture's ``beta`` (with its
    standard error: 0 when enumerated), the number of data points it was fitted to, its
    centre (the sign of the cluster's mean spin) and the weight's standard error (nonzero
    only for sampled ``"free_energy"`` weights)."""

    model: SpinModel
    weight: float
    log_z: float
    size: int
    centre: np.ndarray
    log_z_stderr: float = 0.0
    weight_stderr: float = 0.0


class _Assigner(NamedTuple):
    """Maps any state to a final cluster: quench it under ``base``, join the first of
    ``representatives`` its minimum overlaps by ``>= threshold`` and take that
    representative's cluster (``mapping``); -1 when none (e.g. a mirror basin no data
    point fell into)."""

    base: SpinModel
    representatives: np.ndarray
    mapping: dict
    threshold: float

    def __call__(self, states) -> np.ndarray:
        raw = label_by_overlap(quench(self.base, states), self.representatives, self.threshold)
        return np.array([self.mapping.get(int(r), -1) for r in raw], np.int64)


class BasinMixture:
    """``p(s) = sum_a w_a exp(-beta E_a(s)) / Z_a``; build it with :meth:`fit` or
    :meth:`from_report`.

    - **components** - list of :class:`MixtureComponent` (largest cluster first);
    - **beta** - the inverse temperature of every component;
    - **labels** - the final cluster of every training point (``(m,)``);
    - **base** - the model the data were quenched under (None for given labels);
    - **exact** - True when every ``log Z`` is enumerated (n <= 20).
    """

    def __init__(self, components, beta: float, labels=None, base=None):
        self.components = list(components)
        self.beta = float(check_beta(beta, positive="for a normalised mixture"))
        self.labels = labels
        self.base = base
        if not self.components:
            raise ValueError("A BasinMixture needs at least one component.")
        self.n = self.components[0].model.n
        self.exact = all(c.log_z_stderr == 0 for c in self.components) and self.n <= MAX_TABLE_N
        self._table = None

    def __repr__(self) -> str:
        w = ", ".join(f"{c.weight:.3f}" for c in self.components)
        return f"BasinMixture(n={self.n}, {len(self.components)} components, weights [{w}])"

    @property
    def weights(self) -> np.ndarray:
        return np.array([c.weight for c in self.components])

    # ------------------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls, data, base: SpinModel | None = None, beta: float = 1.0, *, labels="basins",
        weights: str = "data", key=None, orders=(1, 2), l2: float = 1e-2,
        min_size: int = MIN_CLUSTER_SIZE, overlap_threshold: float = OVERLAP_THRESHOLD,
        fit_options: dict | None = None, log_z_options: dict | None = None,
        tempering_options: dict | None = None,
    ) -> BasinMixture:  # fmt: skip
        """Fit one reduced model per basin of ``data`` (±1 or 0/1, ``(samples, n)``).

        Parameters
        ----------
        data : array ``(samples, n)``
        base : SpinModel, optional
            The model every point is quenched under; default the maximum-likelihood model of
            ``orders`` fitted to all the data with the same ``l2`` (exact for n <= 20, else
            persistent chains as for the components).
        beta : float
            Inverse temperature of every component (``> 0``).
        labels : ``"basins"`` or integer array ``(samples,)``
            ``"basins"``: quench under ``base``, group the minima by overlap
            ``>= overlap_threshold`` (:func:`basin_labels`). An array: the user's clusters.
        weights : ``"data"`` or ``"free_energy"``
            The clusters' data shares, or ``∝ exp(-beta F_a)`` with ``F_a`` the free energy
            of the base model's states that belong to cluster ``a``: states quenched under
            the base model whose minimum overlaps one of the cluster's basin minima (with user
            labels: its centre) by ``>= overlap_threshold``; states in basins no data point
            fell into (e.g. mirror images) count for no cluster. Enumerated for n <= 20; parallel tempering of the base model beyond
            (``tempering_options``: ``num_rungs``, ``num_chains``, ``num_draws``,
            ``num_warmup``; the weights then carry the delta-method error of each basin's
            probability, from its ESS).
        key : jax.random key
            Needed when n > 20 (persistent chains, AIS) or for sampled free-energy weights.
        orders : tuple
            Interaction orders of each component: ``(1, 2)`` (fields and couplings) or
            ``(1,)``; any Walsh orders for n <= 20.
        l2 : float
            Ridge penalty on the couplings (keeps them finite where a spin never flips
            within a cluster). The fields are not shrunk with them: n <= 20 gives them only
            :data:`FIELD_L2` (``reduce(l2_fields=...)``); beyond, each field starts at its
            smoothed maximum-likelihood value
            ``atanh(m_i) / beta`` with ``m_i`` from ``(k + 1) / (N + 2)`` counts.
        min_size : int
            Clusters with fewer points join the large cluster whose mean spin they overlap
            most (a model of ``orders`` needs enough points for its moments).
        fit_options : dict, n > 20
            Keywords for ``ep.learning.fit`` (defaults :data:`DEFAULT_FIT_OPTIONS`:
            1000 updates of 128 persistent chains, batches of 100, Adam from
            ``learning_rate`` decayed to 0 by a cosine, ``learning_rate_decay="constant"`` to
            keep it, or your own ``optimizer``); the chains start from the cluster's own points.
        log_z_options : dict, n > 20
            AIS budget of each component's ``log Z`` (``ep.estimate_log_z(method="ais")``,
            defaults :data:`DEFAULT_LOG_Z_OPTIONS`).
        """
        beta = float(check_beta(beta, positive="for a normalised mixture"))
        min_size = check_count("min_size", min_size, 1)
        if weights not in WEIGHTS:
            raise ValueError(f"`weights` must be one of {WEIGHTS}; got {weights!r}.")
        x = np.asarray(as_spin_data(data))
        n = x.shape[1]
        exact = n <= MAX_TABLE_N
        if not exact:
            if key is None:
                raise ValueError(
                    f"n={n} > {MAX_TABLE_N}: the components are trained with persistent chains "
                    "and their log Z estimated by AIS; pass `key=jax.random.key(0)`."
                )
            if tuple(orders) not in ((1, 2), (1,)):
                raise ValueError(
                    f"`orders` must be (1, 2) or (1,) for n={n} > {MAX_TABLE_N}; got {orders!r}."
                )
        fitter = _Fitter(beta, orders, l2, key, fit_options, log_z_options, exact)
        by_basins = isinstance(labels, str)
        if by_basins:
            if labels != "basins":
                raise ValueError(f'`labels` must be "basins" or an array; got {labels!r}.')
            if base is None:
                base = fitter.model(x, "base")
            raw, representatives = basin_labels(base, x, overlap_threshold)  # beta-free
        else:
            raw, representatives = np.asarray(labels), None
            if raw.shape != (len(x),) or not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(
                    f"`labels` must be an integer array of shape ({len(x)},); got "
                    f"{raw.dtype}{raw.shape}."
                )
        final, mapping = _merge_small(raw, x, min_size)
        num = final.max() + 1
        if weights == "data":
            w, w_se = np.bincount(final, minlength=num) / len(x), np.zeros(num)
        else:
            if base is None:
                base = fitter.model(x, "base")
            if not by_basins:  # the clusters' centres stand for their basins
                representatives = _centres(x, final, num)
                mapping = {a: a for a in range(num)}
            assign = _Assigner(base, representatives, mapping, overlap_threshold)
            w, w_se = _free_energy_weights(base, beta, assign, num, key, tempering_options)
        components = []
        for a in range(num):
            rows = x[final == a]
            model = fitter.model(rows, a)
            log_z, log_z_se = fitter.log_z(model, a)
            centre = _centres(rows, np.zeros(len(rows), int), 1)[0]
            components.append(
                MixtureComponent(model, float(w[a]), log_z, len(rows), centre, log_z_se,
                                 float(w_se[a]))
            )  # fmt: skip
        return cls(components, beta, labels=final, base=base)

    @classmethod
    def from_report(cls, report, data, *, beta=None, **fit_kwargs) -> BasinMixture:
        """The remedy an :class:`~ergodic_ppl.diagnostics.ErgodicityReport` names: label every
        data point by the report's basins (the first basin minimum it overlaps by
        ``>= overlap_threshold``, else the one it overlaps most) and :meth:`fit` one model per
        basin. ``beta`` defaults to the report's; ``fit_kwargs`` go to :meth:`fit`."""
        landscape = getattr(report, "landscape", None)
        if landscape is None or len(landscape.minima) == 0:
            raise ValueError(
                "`report` has no basins (ep.diagnose(..., basins=True) with a SpinModel gives "
                "them); or call BasinMixture.fit(data) to find the basins from the data."
            )
        if beta is None:
            beta = report.beta
            if beta is None or np.ndim(beta) != 0:
                raise ValueError("The report records no scalar `beta`; pass `beta=`.")
        threshold = fit_kwargs.get("overlap_threshold", OVERLAP_THRESHOLD)
        x = np.asarray(as_spin_data(data, landscape.minima.shape[1]))
        minima = np.asarray(landscape.minima)
        labels = label_by_overlap(x, minima, threshold)
        nearest = np.argmax(x.astype(np.float32) @ minima.T.astype(np.float32), axis=1)
        labels = np.where(labels >= 0, labels, nearest).astype(np.int64)
        return cls.fit(x, beta=float(beta), labels=labels, **fit_kwargs)

    # ----------------------------------------------------------------------------- density
    def _component_log_probs(self, s) -> jax.Array:
        parts = [
            np.log(c.weight) - self.beta * c.model._energy(s) - c.log_z for c in self.components
        ]
        return jnp.stack(parts, axis=-1)

    def component_log_probs(self, spins) -> jax.Array:
        """``log w_a - beta E_a(s) - log Z_a`` per component, ``(..., K)``."""
        return self._component_log_probs(jnp.asarray(as_spin_data(spins, self.n), jnp.float32))

    def log_prob(self, spins) -> jax.Array:
        """``log p(s)`` of spins ``(..., n)``: exact for n <= 20 (every ``log Z_a``
        enumerated), with the AIS estimates of ``log Z_a`` beyond (:meth:`log_prob_stderr`)."""
        return logsumexp(self.component_log_probs(spins), axis=-1)

    def log_prob_stderr(self, spins) -> np.ndarray:
        """Standard error of :meth:`log_prob` from the estimated ``log Z_a`` and weights
        (independent errors, delta method): ``sqrt(sum_a r_a^2 (se_logZ_a^2 + (se_w_a /
        w_a)^2))`` with ``r_a = p(a | s)``. Zeros when everything is exact."""
        r = np.asarray(self.responsibilities(spins), np.float64)
        return np.sqrt((r**2 * self._log_term_variances()).sum(-1))

    def mean_log_prob(self, data) -> tuple[float, float]:
        """Mean ``log p`` over ``data`` and its standard error from the estimated ``log Z_a``
        and weights (the error of the model, not the data's sampling spread):
        ``sqrt(sum_a rbar_a^2 var_a)``, ``rbar_a`` the mean responsibility (the same
        ``log Z_a`` enters every point)."""
        parts = self.component_log_probs(data)
        log_p = logsumexp(parts, axis=-1)
        r = np.asarray(jnp.exp(parts - log_p[..., None]), np.float64).mean(0)
        value = float(np.mean(np.asarray(log_p, np.float64)))
        return value, float(np.sqrt((r**2 * self._log_term_variances()).sum()))

    def _log_term_variances(self) -> np.ndarray:
        return np.array(
            [c.log_z_stderr**2 + (c.weight_stderr / c.weight) ** 2 for c in self.components]
        )

    def responsibilities(self, spins) -> jax.Array:
        """``p(a | s)``, ``(..., K)``."""
        parts = self.component_log_probs(spins)
        return jnp.exp(parts - logsumexp(parts, axis=-1, keepdims=True))

    def log_prob_table(self) -> jax.Array:
        """``log p`` of all ``2^n`` states in ``ep.exact.all_states`` order (n <= 20,
        cached)."""
        if self.n > MAX_TABLE_N:
            raise ValueError(f"n={self.n} > {MAX_TABLE_N}: too many states to enumerate.")
        if self._table is None:
            self._table = self.log_prob(all_states(self.n))
        return self._table

    # ---------------------------------------------------------------------------- sampling
    def sample(self, key, num: int, *, num_warmup: int = 200) -> np.ndarray:
        """``num`` draws ``(num, n) int8``: a component by its weight, then ``num_warmup``
        heat-bath sweeps within it from its centre (independent chains, vectorised per
        component, in power-of-two batches so that repeated calls reuse the compiled
        sweeps). Exact in the limit of long warm-up as long as each component is one
        basin (the point of the mixture); tests check it by chi-square against
        :meth:`log_prob`."""
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
            # Chains in power-of-two buckets: the compiled shapes repeat from call to call
            # (a component's count varies with the key), at most twice the sweeps needed.
            chains = 1 << max(3, int(len(rows) - 1).bit_length())
            trace = run_chains(
                c.model, self.beta, jax.random.fold_in(key_run, a), num_chains=chains,
                num_draws=1, num_warmup=num_warmup,
                init_spins=np.repeat(c.centre[None], chains, 0),
            )  # fmt: skip
            out[rows] = np.asarray(trace.spins)[: len(rows), -1]
        return out

    def as_distribution(self, *, num_warmup: int = 200, validate_args=None):
        """The mixture as a NumPyro distribution, for ``numpyro.sample("s",
        mixture.as_distribution())`` (:class:`BasinMixtureSpins`)."""
        return BasinMixtureSpins(self, num_warmup=num_warmup, validate_args=validate_args)

    # ------------------------------------------------------------------------ thermodynamics
    def landscape(self, component: int, *, key=None, num_chains: int = 16, num_draws=500):
        """The basins of one component's model: exact (n <= 20,
        ``ep.basins.exact_landscape``) or sampled from ``num_chains`` Gibbs chains started
        at the component's centre (``key`` needed). Feed it to ``ep.basins.basin_graph``."""
        from .basins.landscape import exact_landscape, sampled_landscape

        c = self.components[self._component_index(component)]
        if self.n <= MAX_TABLE_N:
            return exact_landscape(c.model, self.beta)
        if key is None:
            raise ValueError(f"n={self.n} > {MAX_TABLE_N}: the landscape is sampled; pass `key=`.")
        from .kernels.gibbs import run_chains

        trace = run_chains(
            c.model, self.beta, key, num_chains=num_chains, num_draws=num_draws, num_warmup=100,
            init_spins=np.repeat(c.centre[None], num_chains, 0),
        )  # fmt: skip
        return sampled_landscape(c.model, np.asarray(trace.spins))

    def basin_graph(self, component: int, **landscape_kwargs):
        """``networkx`` basin graph of one component (``ep.basins.basin_graph`` of
        :meth:`landscape`), with probabilities and free energies at the mixture's beta."""
        from .basins.graph import basin_graph

        c = self.components[self._component_index(component)]
        land = self.landscape(component, **landscape_kwargs)
        if land.exact:
            return basin_graph(land, beta=self.beta)
        return basin_graph(land, beta=self.beta, log_z=c.log_z)

    def nearest_pattern_labels(self, spins, patterns, overlap_threshold=OVERLAP_THRESHOLD):
        """Index of the first of ``patterns`` each state overlaps by ``>= overlap_threshold``
        (or -1): for comparing sample and data frequencies per pattern."""
        return label_by_overlap(as_spin_data(spins, self.n), patterns, overlap_threshold)

    def _component_index(self, component) -> int:
        k = len(self.components)
        a = check_count("component", component, 0)
        if a >= k:
            raise ValueError(f"`component` must be in 0..{k - 1}; got {a}.")
        return a

    def to_dataframe(self):
        """One row per component: weight (± error), data points, ``log Z`` (± error), free
        energy ``F_a = -log Z_a / beta``, the mixture's free energy of the component
        ``-(log w_a + log Z_a) / beta`` and the overlap of its centre with the others'."""
        import pandas as pd

        rows = []
        for a, c in enumerate(self.components):
            rows.append({
                "component": a, "weight": c.weight, "weight_stderr": c.weight_stderr,
                "size": c.size, "log_z": c.log_z, "log_z_stderr": c.log_z_stderr,
                "free_energy": -c.log_z / self.beta,
                "mixture_free_energy": -(np.log(c.weight) + c.log_z) / self.beta,
            })  # fmt: skip
        return pd.DataFrame(rows).set_index("component")


class _Fitter:
    """Fits one model to a set of points: exact ML for n <= 20, persistent chains beyond."""

    def __init__(self, beta, orders, l2, key, fit_options, log_z_options, exact):
        if fit_options and exact:
            raise ValueError("`fit_options` are for n > 20 (persistent chains); n <= 20 is exact.")
        self.beta, self.orders, self.l2, self.key, self.exact = beta, orders, l2, key, exact
        self.fit_options = {**DEFAULT_FIT_OPTIONS, **(fit_options or {})}
        if self.fit_options["learning_rate_decay"] not in LEARNING_RATE_DECAYS:
            raise ValueError(
                f"`fit_options['learning_rate_decay']` must be one of {LEARNING_RATE_DECAYS}; "
                f"got {self.fit_options['learning_rate_decay']!r}."
            )
        self.log_z_options = {**DEFAULT_LOG_Z_OPTIONS, **(log_z_options or {})}

    def _key(self, tag, what):
        salt = 10_000 + what if tag == "base" else 2 * int(tag) + what
        return jax.random.fold_in(self.key, salt)

    def model(self, rows, tag) -> SpinModel:
        from .thermo.reduced import reduce

        if self.exact:
            return reduce(data=rows, orders=self.orders, method="fit", l2=self.l2,
                          l2_fields=FIELD_L2, temperature=1 / self.beta)  # fmt: skip
        from .learning.fit import fit as pcd_fit

        m = (2 * ((rows > 0).sum(0) + 1) / (len(rows) + 2) - 1).astype(np.float32)
        fields = np.arctanh(m) / self.beta
        if tuple(self.orders) == (1,):
            return SpinModel(fields=fields)
        options = dict(self.fit_options)
        del options["learning_rate"], options["learning_rate_decay"]
        optimizer = options.pop("optimizer", None) or self.optimizer
        rng = np.random.default_rng(np.asarray(jax.random.key_data(self._key(tag, 1))).ravel())
        start = rows[rng.integers(len(rows), size=options["num_chains"])]
        result = pcd_fit(
            SpinModel.fully_connected(rows.shape[1], fields=fields), rows, self.beta,
            key=self._key(tag, 0), optimizer=optimizer, l2=self.l2, init_spins=start,
            **options,
        )  # fmt: skip
        return result.model

    @functools.cached_property
    def optimizer(self):
        """Adam at ``learning_rate`` (cosine-decayed by default): one object for every
        component, so they share one compiled training step (learning.compile_cache_info)."""
        import optax

        rate = self.fit_options["learning_rate"]
        if self.fit_options["learning_rate_decay"] == "cosine":
            rate = optax.cosine_decay_schedule(rate, self.fit_options["steps"])
        return optax.adam(rate)

    def log_z(self, model, tag) -> tuple[float, float]:
        if self.exact:
            return float(exact_log_z(model, self.beta)), 0.0
        if tuple(self.orders) == (1,):  # independent spins: log Z = sum log 2 cosh(beta h)
            h = np.asarray(model.fields, np.float64)
            return float(np.sum(np.logaddexp(self.beta * h, -self.beta * h))), 0.0
        from .free_energy.drivers import estimate_log_z

        est = estimate_log_z(model, self.beta, method="ais", key=self._key(tag, 2),
                             **self.log_z_options)  # fmt: skip
        return float(est.value), float(est.stderr)


def _free_energy_weights(base, beta, assign, num, key, options):
    """``w_a = exp(-beta F_a) / sum_b exp(-beta F_b)``: the base model's probability of the
    states assigned to cluster ``a``; exact for n <= 20, parallel tempering beyond (the
    share of target-rung draws, error from the indicator's ESS). Returns ``(w, stderr)``."""
    n = base.n
    if n <= MAX_TABLE_N:
        states = all_states(n)
        log_p = -beta * np.asarray(base.energy(states), np.float64)
        p = np.exp(log_p - log_p.max())
        labels = assign(states)
        inside = labels >= 0
        w = np.bincount(labels[inside], weights=p[inside], minlength=num)
        return w / w.sum(), np.zeros(num)
    from .free_energy.basins import basin_free_energies
    from .kernels.tempering import run_tempering

    if key is None:
        raise ValueError('`weights="free_energy"` with n > 20 samples the base model; pass `key=`.')
    o = {**DEFAULT_TEMPERING, **(options or {})}
    betas = beta * np.geomspace(1.0, 0.1, o["num_rungs"])
    trace = run_tempering(
        base, betas, jax.random.fold_in(key, 99_999), num_chains=o["num_chains"],
        num_draws=o["num_draws"], num_warmup=o["num_warmup"], keep_all_rungs=False,
    )  # fmt: skip
    spins = np.asarray(trace.spins)
    labels = assign(spins.reshape(-1, n)).reshape(spins.shape[:2])
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


class BasinMixtureSpins(Distribution):
    """A :class:`BasinMixture` as a NumPyro distribution over ``{-1, +1}^n``.

    ``log_prob`` is the mixture's (jit-able: the components' energies and stored ``log
    Z_a``); ``sample`` is exact by enumeration for n <= 20 (jit-able) and the mixture's
    component-then-Gibbs :meth:`BasinMixture.sample` beyond (eager only).

    >>> import numpyro
    >>> rng = np.random.default_rng(0)
    >>> xi = np.array([[1] * 8, [1, -1] * 4], np.int8)
    >>> data = xi[rng.integers(2, size=400)]
    >>> data = np.where(rng.random(data.shape) < 0.05, -data, data)
    >>> spins = BasinMixture.fit(data).as_distribution()
    >>> def model():
    ...     return numpyro.sample("s", spins)
    >>> s = numpyro.handlers.seed(model, 0)()
    >>> s.shape, float(jnp.exp(spins.log_prob(s))) > 0
    ((8,), True)
    """

    arg_constraints = {}
    support = spin_support
    has_enumerate_support = False
    pytree_aux_fields = ("mixture", "num_warmup")

    def __init__(self, mixture: BasinMixture, *, num_warmup: int = 200, validate_args=None):
        if not isinstance(mixture, BasinMixture):
            raise ValueError(f"`mixture` must be a BasinMixture; got {type(mixture).__name__}.")
        self.mixture = mixture
        self.num_warmup = num_warmup
        super().__init__(batch_shape=(), event_shape=(mixture.n,), validate_args=validate_args)

    def log_prob(self, value):
        _check_spin_shape(jnp.shape(value), self.mixture.n, "value")
        if not self._validate_args and _is_concrete(value):
            _check_spin_values(np.asarray(value), "value")
        lp = logsumexp(self.mixture._component_log_probs(jnp.asarray(value, jnp.float32)), -1)
        in_support = self._validate_sample(value) if self._validate_args else self.support(value)
        return jnp.where(in_support, lp, -jnp.inf)

    def sample(self, key, sample_shape=()):
        n = self.mixture.n
        if n <= MAX_TABLE_N:
            idx = jax.random.categorical(key, self.mixture.log_prob_table(), shape=sample_shape)
            return jnp.asarray(all_states(n))[idx]
        num = int(np.prod(sample_shape)) if sample_shape else 1
        draws = self.mixture.sample(key, num, num_warmup=self.num_warmup)
        return jnp.asarray(draws).reshape(tuple(sample_shape) + (n,))
