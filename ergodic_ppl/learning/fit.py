"""Maximum-likelihood training of a SpinModel with persistent chains and work accounting
(docs/THEORY.md B.2).

Each update (i) estimates the NLL gradient ``beta (<dE/dtheta>_data - <dE/dtheta>_chains)``
(``gradient="pcd"``: persistent Gibbs chains; ``"exact"``: enumeration, n <= 20), (ii) applies
an optax transformation, (iii) books the **work** done on every chain by the parameter change
at its fixed state, ``w = beta (E_theta'(x) - E_theta(x))``, and (iv) relaxes the chains by
``sweeps_per_update`` Gibbs sweeps under the new parameters through the one sampling loop
(:func:`ergodic_ppl.kernels.run`). For chains equilibrated at ``theta_0`` and a protocol that
does not depend on them, the accumulated work ``W`` is a trajectory AIS:
``<exp(-W)> = Z_t / Z_0`` (Jarzynski). The learning chains do not qualify: each one pushes the
parameters away from its own state (its share ``1/C`` of the negative phase), so its work is
biased upward by about ``eta |phi|^2 / C`` per update (measured: 3 nats over 1000 SGD updates
of an 8-spin model with 500 chains). ``Delta log Z`` therefore comes from ``num_ais_chains``
**spectator** chains, swept with the same kernel but never used in the gradient. This gives the
log-likelihood curve with an error bar during training, and the excess work of the learning
chains ``W_ex = <W> - Delta F`` with ``Delta F = -Delta log Z`` (units of ``kT``:
``F = -log Z``), the bias of PCD: ``Delta L_exact - Delta L_PCD = W_ex`` where
``Delta L_PCD = Delta (beta <E>_data) - <W>``.

A block of ``monitor_every`` updates is one compiled ``lax.scan``; Python only runs between
blocks.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_beta, check_count, check_key, check_spin_model
from ..exact import ENUMERATION_LIMIT, MAX_EXACT_N, all_states
from ..free_energy.basins import _log_z_parts
from ..kernels import rng
from ..kernels.gibbs import SpinGibbsState, random_spins
from ..kernels.sharding import shard_chains
from ..spins import SpinModel
from ..thermo.data import as_spin_data
from .checkpoint import load_checkpoint, save_checkpoint
from .dissipation import MinDissipation, relaxation_factor
from .gradients import exact_expectation, exact_log_z, per_pair
from .hidden import HiddenSpins, free_energy_rows
from .monitor import UnvisitedBasinsWarning, monitor_chains
from .natural import NaturalGradient
from .pcd import PCD, Centring, PCDState, Tempering, check_sampler, check_schedule

__all__ = ["FitResult", "GRADIENTS", "compile_cache_info", "fit"]

GRADIENTS = ("pcd", "exact")
FREEZABLE = ("fields", "couplings", "kbody")
#: the Jarzynski estimate is flagged unreliable below this ESS (and this share of the chains)
MIN_JARZYNSKI_ESS = 30.0
#: data points quenched by the chain monitor
MONITOR_DATA_SAMPLE = 500
MIN_JARZYNSKI_ESS_FRACTION = 0.05
#: visible data are padded to a power of two rows, at least this many (one compiled step
#: serves every data set up to this size: the per-basin mixture's components)
MIN_PADDED_ROWS = 1024


class FitResult(NamedTuple):
    """Output of :func:`fit`.

    - **model** - the trained :class:`~ergodic_ppl.SpinModel` (same structure as ``model0``).
    - **chains** - the persistent chains' final :class:`~ergodic_ppl.kernels.gibbs.SpinGibbsState`
      (``chains.spins`` ``(num_chains, n) int8``; the target rung with tempering); None for
      ``gradient="exact"``.
    - **history** - an ``xarray.Dataset`` over ``step`` (1..steps):

      - ``nll`` (mean NLL per data point, nats: exact for ``gradient="exact"``, the Jarzynski
        estimate with spectator chains, absent for PCD without them or with interacting
        hidden spins) and ``nll_stderr``; ``data_energy`` (``beta <E>`` over all data,
        ``beta <F(v)>`` with hidden spins: then, for PCD, evaluated at the last update of
        each block and NaN between);
      - ``wall_time``: seconds from the start of the loop to the end of the update's block,
        its monitoring included (the first block includes compilation; a resumed run
        continues the saved clock);
      - ``grad_norm``; ``predicted_excess_work`` (``tau Var(w)``, :mod:`.dissipation`) and
        ``step_scale`` (the min-dissipation rescaling, else 1);
      - PCD: ``work`` (mean work of the update on the learning chains), ``total_work``
        (their mean accumulated ``W``); with spectators: ``delta_log_z`` (Jarzynski
        ``log <exp(-W)>``) with ``delta_log_z_stderr`` and ``jarzynski_ess`` (effective sample
        size of ``exp(-W)``; ``jarzynski_reliable`` is False below ``max(30, 0.05 chains)``:
        fast learning drives the weights of the trajectory AIS to a few chains, and then
        ``nll`` is not trustworthy), and ``excess_work`` (``<W> + Delta log Z``);
      - with ``monitor``, over ``monitor_step`` (the update at the end of each block):
        ``rhat_energy``, ``num_chain_basins``, ``num_data_basins``,
        ``num_unvisited_data_basins``, ``unvisited_data_share``.

      Attributes: ``beta``, ``gradient``, ``sampler``, ``schedule``, ``log_z0`` and
      ``log_z0_stderr``, ``num_chains``, ``num_ais_chains``, ``sweeps_per_update``,
      ``num_hidden``. :func:`~ergodic_ppl.plots.plot_fit` (``fit.plot()``) draws it.
    - **opt_state** - the optimiser state; **rng_key** - the key to continue from.
    - **state** - the whole :class:`~ergodic_ppl.learning.pcd.PCDState` (weights, optimiser,
      chains with their keys and work, centring offsets, spectators): pass it as
      ``fit(..., init_state=result.state)`` to continue training without a warm-up; None for
      ``gradient="exact"``.
    """

    model: SpinModel
    chains: SpinGibbsState | None
    history: Any
    opt_state: Any
    rng_key: jax.Array
    state: PCDState | None = None

    def plot(self, **kwargs):
        """The training curves: :func:`ergodic_ppl.plots.plot_fit`."""
        from ..plots import plot_fit

        return plot_fit(self.history, **kwargs)


def _freeze_names(freeze) -> tuple:
    """``freeze`` as a sorted tuple of weight-group names (checked)."""
    names = () if freeze is None else tuple([freeze] if isinstance(freeze, str) else freeze)
    unknown = [f for f in names if f not in FREEZABLE]
    if unknown:
        raise ValueError(f"`freeze` may name {FREEZABLE}; got {unknown}.")
    return tuple(sorted(set(names)))


@functools.cache
def _default_optimizer():
    """``optax.sgd(1e-2)``, one object per process (so default runs share a compiled step)."""
    import optax

    return optax.sgd(1e-2)


def _trainable_mask(model: SpinModel, freeze) -> SpinModel:
    names = _freeze_names(freeze)
    fields = jnp.zeros_like(model.fields) if "fields" in names else jnp.ones_like(model.fields)
    pairs = model.pair_weights
    pairs = jnp.zeros_like(pairs) if "couplings" in names else jnp.ones_like(pairs)
    if model.is_dense:  # only the structure's pairs are parameters (not the diagonal, see
        # per_pair, nor the zeros of the matrix: the colouring of the sweep relies on them)
        e = model.edges
        inside = np.zeros((model.n, model.n))
        inside[e[:, 0], e[:, 1]] = inside[e[:, 1], e[:, 0]] = 1.0
        pairs = pairs * jnp.asarray(inside, pairs.dtype)
    kbody = tuple(
        jnp.zeros_like(w) if "kbody" in names else jnp.ones_like(w) for w in model.kbody_weights
    )
    return SpinModel.tree_unflatten(model._structure, (fields, pairs, kbody))


def _initial_log_z(model0, beta, log_z0, key) -> tuple[float, float]:
    """``(log Z_0, stderr)``: given, exact (n <= 20), or AIS."""
    if log_z0 is not None:
        return _log_z_parts(log_z0, beta)
    if model0.n <= ENUMERATION_LIMIT:
        from ..exact import log_z

        return float(log_z(model0, beta)), 0.0
    from ..free_energy.drivers import estimate_log_z

    est = estimate_log_z(model0, beta, method="ais", rng_key=jax.random.fold_in(key, 1))
    return float(est.value), float(est.stderr)


def _legacy_settings(sampler, schedule) -> tuple:
    """``(schedule, fisher_damping, sampler, dissipation_rate, tempering_betas)`` as the
    fingerprint has recorded them since the string options (checkpoints stay resumable)."""
    natural = isinstance(schedule, NaturalGradient)
    minimal = isinstance(schedule, MinDissipation)
    return (
        "natural_gradient" if natural else "min_dissipation" if minimal else None,
        schedule.damping if natural else 1e-3,
        "gibbs" if sampler is None else "tempering",
        schedule.rate if minimal else None,
        None if sampler is None else list(sampler.betas),
    )


def _fingerprint(model0, data, beta, gradient, *settings) -> dict:
    """What must be equal for a checkpoint to continue this run bit for bit."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(data).tobytes())
    for leaf in jax.tree.leaves(model0):
        digest.update(np.asarray(leaf).tobytes())
    names = ("num_chains", "num_ais_chains", "sweeps_per_update", "batch_size",
             "monitor_every", "l2", "freeze", "num_warmup", "schedule", "fisher_damping",
             "sampler", "visible", "dissipation_rate", "tempering_betas", "centring")  # fmt: skip
    out = {name: repr(value) for name, value in zip(names, settings, strict=True)}
    out.update(
        {
            "model": repr(model0),
            "n": model0.n,
            "beta": repr(beta),
            "gradient": gradient,
            "data_and_model0_sha256": digest.hexdigest(),
            "sweep_rng": rng.DEFAULT_RNG_IMPL,  # the sweeps' generator (kernels.rng)
        }
    )
    return out


def _optimizer_probe(optimizer, model0) -> str:
    """A digest of the first three updates ``optimizer`` makes from ``init(model0)`` on a
    fixed gradient: equal for an optimiser that steps alike, different for another rate,
    momentum or transformation (an ``optax`` object has no other comparable identity). A
    schedule's horizon shows only where it changes those first updates."""
    grad = jax.tree.map(lambda leaf: jnp.full_like(leaf, 0.5), model0)
    state = optimizer.init(model0)
    digest = hashlib.sha256()
    for _ in range(3):
        updates, state = optimizer.update(grad, state, model0)
        for leaf in jax.tree.leaves(updates):
            digest.update(np.asarray(leaf).tobytes())
    return digest.hexdigest()


class _StepConfig(NamedTuple):
    """What the compiled training step depends on besides array shapes: equal configurations
    share one compiled step per process (:func:`_step_functions`).  The optimiser counts by
    identity: pass the same ``optax`` object to reuse a compiled step."""

    structure: Any
    dtype: str
    beta: float
    gradient: str
    sampler: Tempering | None
    visible: tuple | None
    batch_size: int | None
    sweeps_per_update: int
    l2: float
    freeze: tuple
    schedule: NaturalGradient | MinDissipation | None
    num_ais_chains: int
    optimizer: Any
    centring: Centring | None


_COMPILED: OrderedDict = OrderedDict()
_COMPILED_MAX = 32
_TRACES = {"block": 0}


def compile_cache_info() -> dict:
    """``{"entries": configurations held, "block_traces": times a training block was traced}``:
    a second ``fit`` of the same model structure and options (same optimiser object, same
    array shapes) traces and compiles nothing (segments, resume, the mixture's components)."""
    return {"entries": len(_COMPILED), "block_traces": _TRACES["block"]}


def _step_functions(cfg: _StepConfig, model0: SpinModel):
    """The jitted training block, warm-up sweeps and data energy for ``cfg`` (built once per
    configuration; ``model0`` only lends its structure and shapes)."""
    hit = _COMPILED.get(cfg)
    if hit is not None:
        _COMPILED.move_to_end(cfg)
        return hit
    out = _build_step_functions(cfg, model0)
    _COMPILED[cfg] = out
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return out


def _build_step_functions(cfg: _StepConfig, model0: SpinModel):
    import types

    beta, batch_size, dtype = cfg.beta, cfg.batch_size, jnp.dtype(cfg.dtype)
    split = None if cfg.visible is None else HiddenSpins(model0, cfg.visible)
    pcd = PCD(
        model0, beta, cfg.optimizer, visible=split, sweeps=cfg.sweeps_per_update,
        sampler=cfg.sampler, centring=cfg.centring, mask=_trainable_mask(model0, cfg.freeze),
        l2=cfg.l2, schedule=cfg.schedule,
    )  # fmt: skip
    exact_states = None
    if cfg.gradient == "exact":
        exact_states = jnp.asarray(all_states(model0.n), dtype)

    def data_energy(model, consts):
        """``beta <E_theta>`` (or ``beta <F_theta(v)>`` with hidden spins) over all data (the
        first ``num_rows`` rows of ``consts["data"]``: the rest is padding)."""
        if split is None:
            terms = jax.tree.map(jnp.vdot, model, consts["data_slope"])
            return beta * sum(jax.tree.leaves(terms))
        data = consts["data"]
        real = jnp.arange(data.shape[0]) < consts["num_rows"]
        f = free_energy_rows(model, split, beta, data)
        return jnp.sum(jnp.where(real, f, 0.0)) / consts["num_rows"]

    def draw_batch(k, carry, consts):
        """``(batch, rows)`` for :meth:`PCD.step`: rows below ``num_rows`` (the data may be
        padded, :func:`_consts`), all rows without ``batch_size``."""
        rows = None
        if batch_size is not None:
            rows = jax.random.randint(k, (batch_size,), 0, consts["num_rows"])
        if "clamped" in carry:
            full = carry["clamped"]
            return (full if rows is None else full[rows]), rows
        if split is None and rows is None:
            return consts["data_grad"], rows
        data = consts["data"] if rows is None else consts["data"][rows]
        return data.astype(dtype), rows

    def pcd_step(carry, k, consts):
        k_rows = jax.random.split(jax.random.split(k)[0])[0]  # PCD.step's stream, like 0.x
        batch, rows = draw_batch(k_rows, carry, consts)
        state, info = pcd.step(k, carry["pcd"], batch)
        out = {**carry, "pcd": state}
        if info.positive_states is not None:  # persistent hidden spins of the clamped rows
            full = info.positive_states
            out["clamped"] = full if rows is None else carry["clamped"].at[rows].set(full)
        record = {name: getattr(info, name) for name in _PCD_RECORDS}
        if split is None:
            record["data_energy"] = data_energy(state.model, consts)
        if state.spectators is not None:
            record.update({name: getattr(info, name) for name in _JARZYNSKI_RECORDS})
        return out, record

    def exact_step(carry, k, consts):
        state = carry["pcd"]
        batch, _ = draw_batch(jax.random.split(k)[0], carry, consts)
        positive, _, _ = pcd.positive_phase(k, state.model, batch)
        grad = jax.tree.map(lambda a, b: beta * (a - b), positive,
                            exact_expectation(state.model, beta, exact_states))  # fmt: skip
        p = jax.nn.softmax(-beta * state.model._energy(exact_states))
        model, opt_state, norm, _, q, scale = pcd.apply(state, grad, exact_states, p)
        record = {
            "data_energy": data_energy(model, consts),
            "grad_norm": norm,
            "predicted_excess_work": q,
            "step_scale": scale,
            "log_z": exact_log_z(model, beta, exact_states),
        }
        return {**carry, "pcd": state._replace(model=model, opt_state=opt_state)}, record

    step = pcd_step if cfg.gradient == "pcd" else exact_step

    def block(carry, keys, consts):
        _TRACES["block"] += 1  # Python runs here only while JAX traces
        return jax.lax.scan(lambda c, k: step(c, k, consts), carry, keys)

    return types.SimpleNamespace(
        pcd=pcd, block=jax.jit(block), warm=jax.jit(pcd.sweep, static_argnums=3),
        data_energy=jax.jit(data_energy),
    )  # fmt: skip


_PCD_RECORDS = ("grad_norm", "work", "total_work", "predicted_excess_work", "step_scale",
                "chain_energy")  # fmt: skip
_JARZYNSKI_RECORDS = ("delta_log_z", "delta_log_z_stderr", "jarzynski_ess")


def _padded_rows(x) -> np.ndarray:
    """``x`` with zero rows appended up to a power of two, at least :data:`MIN_PADDED_ROWS`."""
    rows = max(MIN_PADDED_ROWS, 1 << max(len(x) - 1, 0).bit_length())
    padded = np.zeros((rows, x.shape[1]), x.dtype)
    padded[: len(x)] = x
    return padded


def _consts(model0, x, split, batch_size, dtype) -> dict:
    """The data as the compiled step reads it.  Visible models: ``E`` is linear in the weights,
    so ``<dE/dtheta>_data`` is fixed and ``E_theta(s) = theta . dE/dtheta(s)``: both data
    terms come from one pass over the data (``data_slope``, ``data_grad``).  The rows are
    padded with zero rows to a power of two, at least :data:`MIN_PADDED_ROWS` (batches are
    drawn below ``num_rows``, data averages mask the padding), so data sets of similar size
    share one compiled step: segments of one run, and the mixture's components (RBMs too).
    Full batches (no ``batch_size``) and hidden spins that interact (one persistent hidden
    state per row) read every row: their data are not padded.  The rows stay ``int8`` (a
    quarter of the memory of floats) and are cast where they are read."""
    consts = {"num_rows": jnp.asarray(len(x), jnp.int32)}
    if split is None:
        data = jnp.asarray(_padded_rows(x))  # zero rows: no energy, no slope
        slope, grad = _data_slope(model0, data.astype(dtype), consts["num_rows"])
        consts.update(data_slope=slope, data_grad=grad)
        if batch_size is not None:
            consts["data"] = data
    else:
        pad = split.independent and batch_size is not None  # full batches read every row
        consts["data"] = jnp.asarray(_padded_rows(x) if pad else x)
    return consts


@jax.jit
def _data_slope(model0, data, num_rows):
    """``d<E>_data/dtheta`` (raw leaves) and the per-pair gradient over the first ``num_rows``
    rows of ``data`` (the others are zero rows, which add nothing: ``E(0) = 0`` for every
    weight)."""
    slope = jax.grad(lambda m: jnp.sum(m._energy(data)) / num_rows)(model0)
    return slope, per_pair(model0, slope)


def _initial_state(pcd, model0, x, key_init, key_warm, warm, init_spins, num_chains,
                   num_ais_chains, num_warmup, mesh, chain_axis) -> PCDState:  # fmt: skip
    """The PCD state at ``model0``: chains from ``init_spins`` or uniform spins (rungs of a
    ladder uniform), ``num_warmup`` sweeps at ``model0``; spectators alike, independently."""
    n = model0.n
    if init_spins is None:
        start = random_spins(key_init, (num_chains, n))
    else:
        start = jnp.asarray(as_spin_data(init_spins, n, "init_spins"))
        if start.shape != (num_chains, n):
            raise ValueError(
                f"`init_spins` must have shape (num_chains, n) = ({num_chains}, {n}); "
                f"got {tuple(start.shape)}."
            )
    k_chains, k_spectators = jax.random.split(key_warm)
    chain_keys = jax.random.split(k_chains, num_chains)
    if mesh is not None:
        start = shard_chains(mesh, start, chain_axis=chain_axis)
        chain_keys = shard_chains(mesh, chain_keys, chain_axis=chain_axis)
    if pcd.ladder is not None:
        rungs = random_spins(jax.random.fold_in(key_init, 3), (num_chains, len(pcd.ladder), n))
        start = rungs.at[:, 0].set(start.astype(jnp.int8))
    spectators = spectator_keys = None
    if num_ais_chains:
        spectators = random_spins(jax.random.fold_in(key_init, 1), (num_ais_chains, n))
        spectator_keys = jax.random.split(k_spectators, num_ais_chains)
        if mesh is not None:
            spectators = shard_chains(mesh, spectators, chain_axis=chain_axis)
            spectator_keys = shard_chains(mesh, spectator_keys, chain_axis=chain_axis)
    mean = None
    if pcd.centring is not None:
        mean = np.mean(x, axis=0)
    state = pcd.init(model0, start, chain_keys, visible_mean=mean,
                     spectator_spins=spectators, spectator_keys=spectator_keys)  # fmt: skip
    if num_warmup:
        chains, keys = warm(model0, state.chains, state.chain_keys, num_warmup)
        state = pcd.refresh(state._replace(chains=chains, chain_keys=keys))
        if num_ais_chains:
            spec, spec_keys = warm(model0, state.spectators, state.spectator_keys, num_warmup)
            state = state._replace(spectators=spec, spectator_keys=spec_keys)
    return state


def _resolve_centring(centring, model0, split) -> Centring | None:
    """``fit``'s ``centring`` argument as a :class:`Centring` or None (checked)."""
    if centring is False:
        return None
    is_rbm = split is not None and split.is_rbm_layer(model0)
    if centring is None:
        return Centring() if is_rbm else None
    if not isinstance(centring, Centring):
        raise ValueError(
            "`centring` must be None (automatic: on for RBMs), False or "
            f"ep.learning.Centring(hidden_rate); got {centring!r}."
        )
    rate = float(centring.hidden_rate)
    if not (0 < rate <= 1):
        raise ValueError(f"`centring.hidden_rate` must be in (0, 1]; got {centring.hidden_rate}.")
    if not (is_rbm or (model0.is_dense and split is None)):
        raise ValueError(
            "`centring` needs an RBM trained on its visible layer (SpinModel.rbm, "
            f"visible=range(n_visible)) or a fully visible dense model; got {model0!r}"
            f"{'' if split is None else ' with hidden spins'}. Pass centring=False."
        )
    return Centring(rate)


def _check_init_state(state, pcd, model0, gradient, num_chains, num_ais_chains) -> PCDState:
    """``init_state`` (a :class:`PCDState`, e.g. ``FitResult.state``) checked against this run."""
    if not isinstance(state, PCDState):
        raise ValueError(
            f"`init_state` must be a PCDState (FitResult.state); got {type(state).__name__}."
        )
    if gradient != "pcd":
        raise ValueError('`init_state` continues persistent chains: use gradient="pcd".')
    if state.model._structure != model0._structure:
        raise ValueError(
            f"`init_state` holds a model of another structure ({state.model!r}); `model0` is "
            f"{model0!r}."
        )
    chains = pcd.target(state.chains)[1].shape[0]
    spectators = 0 if state.spectators is None else state.spectator_work.shape[0]
    if (chains, spectators) != (num_chains, num_ais_chains):
        raise ValueError(
            f"`init_state` has {chains} chains and {spectators} spectators; this run asks for "
            f"`num_chains`={num_chains} and `num_ais_chains`={num_ais_chains}."
        )
    if (state.offsets is None) != (pcd.centring is None):
        raise ValueError("`init_state` and `centring` disagree on whether gradients are centred.")
    return state if state.hidden_field is not None else pcd.refresh(state)


def fit(
    model0: SpinModel,
    data,
    beta: float = 1.0,
    *,
    rng_key,
    gradient: str = "pcd",
    sampler: Tempering | None = None,
    visible=None,
    num_chains: int = 100,
    num_ais_chains: int | None = None,
    sweeps_per_update: int = 1,
    steps: int = 1000,
    batch_size: int | None = None,
    optimizer=None,
    schedule: NaturalGradient | MinDissipation | None = None,
    l2: float = 0.0,
    freeze=None,
    monitor_every: int = 100,
    num_warmup: int = 100,
    init_spins=None,
    log_z0=None,
    monitor: bool = True,
    checkpoint=None,
    resume: bool = False,
    progress=False,
    mesh=None,
    chain_axis: str | None = None,
    centring=None,
    init_state: PCDState | None = None,
) -> FitResult:
    """Train the weights of ``model0`` on ``data`` by maximum likelihood (docs/THEORY.md B.2).

    Parameters
    ----------
    model0 : SpinModel
        The initial model; its interaction structure (which fields, pairs and k-body terms
        exist) is kept, its weights are trained.
    data : array ``(samples, n)`` (``(samples, len(visible))`` with hidden spins)
        ±1 spins (a table of only +1 too). 0/1 bits are refused: convert them with
        ``ep.bits_to_spins(bits)`` (bit 0 -> +1, bit 1 -> -1; ``ep.datasets.load`` does so
        for files).
    beta : float
        Inverse temperature of the model, ``p ∝ exp(-beta E)`` (> 0).
    rng_key : a JAX PRNG key
    gradient : ``"pcd"`` or ``"exact"``
        Persistent chains (``num_chains``, ``sweeps_per_update`` sweeps between updates,
        ``num_warmup`` sweeps at ``model0`` first, from ``init_spins`` or uniform spins), or
        enumeration (n <= 20).
    sampler : None or :class:`~ergodic_ppl.learning.Tempering`
        How the learning chains move: chromatic heat-bath sweeps (None), or parallel
        tempering, ``Tempering(betas)`` (each chain a ladder ``betas``, default 8 rungs
        geometric from ``beta`` to ``beta / 10``; a step sweeps every rung and proposes DEO
        swaps; the chain is the target rung). The spectator chains are always Gibbs
        (Jarzynski needs a kernel that leaves ``p_theta`` itself invariant).
    visible : index sequence, optional
        The visible spins (data columns in this order); the others are hidden. When no term
        couples two hidden spins (an RBM, :meth:`SpinModel.rbm`) the positive phase is the
        exact conditional expectation and the data term the exact visible free energy
        (:mod:`.hidden`); otherwise the hidden spins of every data point are sampled by
        ``sweeps_per_update`` clamped Gibbs sweeps per update (persistent), and there is no
        NLL curve.
    num_ais_chains : int
        Spectator chains for the Jarzynski ``Delta log Z`` (default ``num_chains``; 0: no
        log-likelihood curve, no excess work).
    steps, batch_size : int
        Number of updates; data points per update's positive phase (drawn uniformly with
        replacement; default all data, exactly).
    optimizer : optax.GradientTransformation
        Default ``optax.sgd(1e-2)``. It receives the NLL gradient (plus ``l2 * J`` on the
        couplings and k-body weights) as a SpinModel-shaped pytree; decaying rates are optax
        schedules inside it.
    schedule : None, :class:`~.natural.NaturalGradient` or :class:`~.dissipation.MinDissipation`
        None: the optimiser's own rates. ``NaturalGradient(damping)`` preconditions the
        gradient by the Fisher matrix ``beta^2 Cov(phi) + damping`` measured over the learning
        chains (exact for ``gradient="exact"``) before the optimiser (B.4).
        ``MinDissipation(rate)`` rescales every update so that its slow-driving excess work
        ``dtheta^T zeta dtheta`` equals ``rate`` (equal thermodynamic-length steps, B.4;
        :mod:`.dissipation`).
    freeze : str or sequence of ``"fields"``, ``"couplings"``, ``"kbody"``
        Weight groups kept at their initial values.
    monitor_every : int
        Updates per compiled block.
    log_z0 : float or LogZEstimate, optional
        ``log Z`` of ``model0`` at ``beta`` for the NLL curve; default exact for n <= 20,
        else ``ep.estimate_log_z(model0, beta, method="ais")``.
    monitor : bool
        PCD: after every block, diagnose the learning chains (:mod:`.monitor`: R-hat of their
        energy over the block, basins by quench against the basins of up to 500 data points)
        into the history's ``monitor_step`` variables, and warn (once) when the chains stop
        visiting a basin that holds data.
    checkpoint : path, optional
        Written atomically after every block of ``monitor_every`` updates: parameters,
        optimiser state, chains, keys, work and history (:mod:`.checkpoint`). An existing
        file is never overwritten by a new run: pass ``resume=True`` to continue it (a resumed
        run equals an uninterrupted one bit for bit; ``steps`` may grow). A corrupt file or one
        from a different run (data, model0, settings, or an optimiser whose first updates
        differ: another rate or momentum) is an error naming what changed.
    progress : bool or tqdm bar
        A tqdm progress bar over updates; or an open bar to advance (its count is set to the
        updates done, and it is left open: a caller running ``fit`` in segments shows one bar).
    mesh, chain_axis : jax.sharding.Mesh, str, optional
        Split the learning and spectator chains over the mesh's devices along ``chain_axis``
        (:mod:`ergodic_ppl.kernels.sharding`; ``num_chains`` and ``num_ais_chains`` multiples
        of its size). Each chain keeps its rng_key; the chain averages become cross-device sums,
        so the result equals the single-device one up to float32 summation order.
    centring : None, False or :class:`~ergodic_ppl.learning.pcd.Centring`
        Centred gradients (Melchior et al. 2016; :func:`~ergodic_ppl.learning.pcd.centre`):
        the default (None) centres an RBM trained on its visible layer (``SpinModel.rbm``,
        ``visible=range(n_visible)``) and nothing else; ``False`` turns it off; a
        ``Centring(hidden_rate)`` turns it on (RBMs and dense pairwise models).
    init_state : PCDState, optional
        Continue from this state (``FitResult.state`` of an earlier run of the same model
        structure, chains and options) instead of fresh chains: no warm-up; the compiled
        step is reused.
    """
    import optax

    check_spin_model(model0, "model0")
    beta = float(check_beta(beta, positive="to train"))
    if gradient not in GRADIENTS:
        raise ValueError(f"`gradient` must be one of {GRADIENTS}; got {gradient!r}.")
    sampler, schedule = check_sampler(sampler, beta), check_schedule(schedule)
    if sampler is not None and gradient != "pcd":
        raise ValueError('`sampler=Tempering(...)` moves persistent chains: use gradient="pcd".')
    n = model0.n
    split = None if visible is None else HiddenSpins(model0, visible)
    if split is not None and split.num_hidden == 0:  # a permutation of the spins
        x = np.zeros((len(np.asarray(data)), n), np.int8)
        x[:, split.visible] = as_spin_data(data, n)
        split = None
    else:
        x = as_spin_data(data, n if split is None else len(split.visible))
    for name, value, low in (
        ("steps", steps, 1),
        ("num_chains", num_chains, 1),
        ("num_ais_chains", num_chains if num_ais_chains is None else num_ais_chains, 0),
        ("sweeps_per_update", sweeps_per_update, 1),
        ("monitor_every", monitor_every, 1),
        ("num_warmup", num_warmup, 0),
    ) + ((("batch_size", batch_size, 1),) if batch_size is not None else ()):
        check_count(name, value, low)
    check_key(rng_key, "rng_key")
    num_ais_chains = num_chains if num_ais_chains is None else int(num_ais_chains)
    if gradient == "exact":
        num_ais_chains = 0
    l2 = float(l2)
    if not (math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"`l2` must be finite and >= 0; got {l2}.")
    if optimizer is None:
        optimizer = _default_optimizer()
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(
            "`optimizer` must be an optax.GradientTransformation, e.g. optax.adam(1e-2); got "
            f"{type(optimizer).__name__}."
        )
    if gradient == "exact" and n > MAX_EXACT_N:
        raise ValueError(
            f'gradient="exact" enumerates 2^n states; n={n} > {MAX_EXACT_N}. Use gradient="pcd".'
        )
    if gradient == "exact" and split is not None and not split.independent:
        raise ValueError(
            'gradient="exact" with hidden spins needs hidden spins that do not interact with '
            'each other (an RBM); use gradient="pcd" (clamped Gibbs positive phase).'
        )
    centring = _resolve_centring(centring, model0, split)
    dtype = model0.fields.dtype
    has_nll = split is None or split.independent
    z0, z0_err = float("nan"), float("nan")  # only the Jarzynski NLL curve needs log Z_0
    if gradient == "pcd" and num_ais_chains and has_nll:
        z0, z0_err = _initial_log_z(model0, beta, log_z0, rng_key)

    rng_key, key_init, key_warm = jax.random.split(rng_key, 3)
    cfg = _StepConfig(
        model0._structure, str(dtype), beta, gradient, sampler,
        None if split is None else tuple(split.visible.tolist()), batch_size,
        sweeps_per_update, l2, _freeze_names(freeze), schedule, num_ais_chains, optimizer,
        centring,
    )  # fmt: skip
    fns = _step_functions(cfg, model0)
    consts = _consts(model0, x, split, batch_size, dtype)
    pcd = fns.pcd
    carry = {}
    if split is not None and not split.independent:  # one persistent hidden state per row
        hidden0 = random_spins(jax.random.fold_in(key_init, 2), (len(x), split.num_hidden))
        carry["clamped"] = split.complete(consts["data"].astype(dtype), hidden0.astype(dtype))
    if init_state is not None:
        state = _check_init_state(init_state, pcd, model0, gradient, num_chains, num_ais_chains)
    elif gradient == "pcd":
        state = _initial_state(pcd, model0, x, key_init, key_warm, fns.warm, init_spins,
                               num_chains, num_ais_chains, num_warmup, mesh, chain_axis)  # fmt: skip
    else:  # exact: no chains; tau = 1/2 for exact equilibrium averages (dissipation)
        state = PCDState(model0, optimizer.init(model0), None, None, None,
                         jnp.asarray(0.5, dtype))  # fmt: skip
    carry["pcd"] = state
    records: list[dict] = []
    done = 0
    legacy = _legacy_settings(sampler, schedule)
    fingerprint = _fingerprint(
        model0, x, beta, gradient, num_chains, num_ais_chains, sweeps_per_update, batch_size,
        monitor_every, l2, freeze, num_warmup, *legacy[:3],
        None if visible is None else np.asarray(visible).tolist(), *legacy[3:], centring,
    )  # fmt: skip
    fingerprint["optimizer_probe_sha256"] = _optimizer_probe(optimizer, model0)
    if init_state is not None:  # a run continued from a state is resumed only from that state
        digest = hashlib.sha256()
        for leaf in jax.tree.leaves(init_state):
            leaf = (
                jax.random.key_data(leaf)
                if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)
                else leaf
            )
            digest.update(np.asarray(leaf).tobytes())
        fingerprint["init_state_sha256"] = digest.hexdigest()
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.exists() and not resume:
            raise ValueError(
                f"`checkpoint` {checkpoint} exists: pass resume=True to continue that run, or "
                "choose another path (it is never overwritten by a new run)."
            )
        if checkpoint.exists():
            carry, rng_key, done, saved = load_checkpoint(checkpoint, carry, rng_key, fingerprint)
            if done > steps:
                raise ValueError(
                    f"The checkpoint has {done} updates done, more than `steps`={steps}."
                )
            if saved:
                records.append(saved)
    warned = False
    sample_rows = np.random.default_rng(0).permutation(len(x))[:MONITOR_DATA_SAMPLE]
    own_bar = isinstance(progress, bool | int) and bool(progress)
    bar = None
    if own_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=done, desc="fit", unit="update")
    elif not isinstance(progress, bool | int) and progress is not None:  # the caller's bar
        bar = progress
        bar.n = done
        bar.refresh()
    if split is not None and gradient == "pcd" and has_nll:  # F over the rows, not the padding
        real_rows = {**consts, "data": consts["data"][: len(x)]}
    started = time.perf_counter()
    if records:  # a resumed run continues the clock of the saved blocks
        started -= float(records[-1]["wall_time"][-1])
    while done < steps:
        size = min(monitor_every, steps - done)
        rng_key, k_block = jax.random.split(rng_key)
        carry, rec = fns.block(carry, jax.random.split(k_block, size), consts)
        rec = jax.tree.map(np.asarray, rec)
        done += size
        chain_energy = rec.pop("chain_energy", None)
        if split is not None and gradient == "pcd" and has_nll:
            # the visible free energy needs a pass over the data: once per block
            rec["data_energy"] = np.full(size, np.nan, dtype)
            rec["data_energy"][-1] = fns.data_energy(carry["pcd"].model, real_rows)
        if chain_energy is not None:
            tau = jnp.asarray(relaxation_factor(chain_energy), dtype)
            carry["pcd"] = carry["pcd"]._replace(tau=tau)
        if chain_energy is not None and monitor:
            model = carry["pcd"].model
            learning_spins = np.moveaxis(np.asarray(pcd.target(carry["pcd"].chains)[0]), 0, -1)
            if split is None:
                data_sample = x[sample_rows]
            elif split.independent:
                data_sample = split.likely_states(model, consts["data"][sample_rows].astype(dtype))
            else:
                data_sample = carry["clamped"][sample_rows]
            check = monitor_chains(model, learning_spins, chain_energy, np.asarray(data_sample))
            rec["monitor_step"] = np.array([done])
            rec.update({f"monitor_{k}": np.array([v]) for k, v in check.items()})
            if check["num_unvisited_data_basins"] and not warned:
                warned = True
                warnings.warn(
                    f"After {done} updates the persistent chains visit none of "
                    f"{check['num_unvisited_data_basins']} basin(s) holding "
                    f"{check['unvisited_data_share']:.0%} of the data: the negative phase "
                    "misses them (broken ergodicity), so the model's weight there is "
                    "unchecked. Remedies: the tempering sampler (`sampler=learning.Tempering()`), "
                    "more chains (`num_chains`) or sweeps (`sweeps_per_update`), chains "
                    "started from data (`init_spins`), or one model per basin (the per-basin "
                    "mixture).",
                    UnvisitedBasinsWarning,
                    stacklevel=2,
                )
        rec["wall_time"] = np.full(size, time.perf_counter() - started)
        records.append(rec)
        if bar is not None:
            bar.update(size)
        if checkpoint is not None:
            raw = {name: np.concatenate([r[name] for r in records]) for name in records[0]}
            records = [raw]
            save_checkpoint(checkpoint, carry, rng_key, done, raw, fingerprint)
    if own_bar:
        bar.close()

    history = _history(records, gradient, steps, has_nll, z0, z0_err, num_ais_chains)
    history.attrs.update(
        {
            "beta": beta,
            "gradient": gradient,
            "sampler": legacy[2] if gradient == "pcd" else "exact",
            "schedule": str(legacy[0]),
            "log_z0": z0,
            "log_z0_stderr": z0_err,
            "num_chains": num_chains if gradient == "pcd" else 0,
            "num_ais_chains": num_ais_chains,
            "sweeps_per_update": sweeps_per_update if gradient == "pcd" else 0,
            "num_hidden": 0 if split is None else split.num_hidden,
        }
    )
    chains = None
    if gradient == "pcd":  # the learning chains' target rung (spectators are dropped)
        chains = SpinGibbsState(*pcd.target(carry["pcd"].chains))
    state = carry["pcd"]
    return FitResult(state.model, chains, history, state.opt_state, rng_key,
                     state if gradient == "pcd" else None)  # fmt: skip


def _history(records, gradient, steps, has_nll, z0, z0_err, num_ais_chains):
    """The per-update records of all blocks as an ``xarray.Dataset`` (see :class:`FitResult`)."""
    import xarray as xr

    rec = {
        name: np.concatenate([r[name] for r in records]).astype(np.float64) for name in records[0]
    }
    checks = {k: rec.pop(k) for k in list(rec) if k.startswith("monitor_")}
    if gradient == "pcd" and num_ais_chains:
        rec["excess_work"] = rec["total_work"] + rec["delta_log_z"]
        if has_nll:
            rec["nll"] = rec["data_energy"] + z0 + rec["delta_log_z"]
            rec["nll_stderr"] = np.sqrt(z0_err**2 + rec["delta_log_z_stderr"] ** 2)
        # the delta-method error is itself unreliable once few chains carry the weight
        rec["jarzynski_reliable"] = rec["jarzynski_ess"] >= max(
            MIN_JARZYNSKI_ESS, MIN_JARZYNSKI_ESS_FRACTION * num_ais_chains
        )
    elif gradient == "exact":
        rec["nll"] = rec["data_energy"] + rec.pop("log_z")
        rec["nll_stderr"] = np.zeros(steps)
    variables = {name: ("step", values) for name, values in rec.items()}
    coords = {"step": np.arange(1, steps + 1)}
    if checks:
        coords["monitor_step"] = checks.pop("monitor_step").astype(np.int64)
        variables.update({k[len("monitor_") :]: ("monitor_step", v) for k, v in checks.items()})
    return xr.Dataset(variables, coords=coords)
