"""Throughput and ESS of the spin Gibbs sampler against NumPyro's DiscreteGibbs and thrml.

For each case (a 2-D Ising lattice, a dense Sherrington-Kirkpatrick glass, a small lattice with
one chain) every method runs the same number of chains for a given number of sweeps, and the
benchmark prints

- **spin updates per second** = chains x sweeps x n / wall time of the timed call;
- **ESS per second** of the energy: bulk ESS (``arviz.ess`` on the ``(chains, draws)`` energy
  array, after dropping the first ``--burn`` fraction of draws) / wall time of the timed call;
- the mean energy per spin with its Monte Carlo standard error, so that one can see that all
  methods sample the same distribution.

Methods (one draw = one sweep = every spin updated once, in every method):

- ``ours (functional)``: :func:`ergodic_ppl.kernels.gibbs.run_chains` (chromatic heat bath).
- ``ours (MCMC)``: ``numpyro.infer.MCMC(ep.SpinGibbs(model, track_energy=True),
  chain_method="vectorized")`` on ``numpyro.sample("s", ep.BoltzmannSpins(spin_model, beta))``
  with ``extra_fields=("energy",)``.
- ``numpyro DiscreteGibbs``: ``numpyro.infer.DiscreteGibbs`` on the same Boltzmann distribution
  written as plain Bernoulli sites plus a ``numpyro.factor`` (chains vectorised with
  ``chain_method=jax.vmap``; DiscreteGibbs does not accept ``"vectorized"``).
- ``thrml``: ``thrml.models.IsingEBM`` + ``IsingSamplingProgram`` with the colour classes of the
  interaction graph as blocks (2 blocks for the lattice; one block per spin for the complete SK
  graph), run with ``thrml.sample_states`` under ``jax.jit(jax.vmap(...))`` over chains, as in
  thrml's own benchmark (examples/02_spin_models.ipynb). Energies are computed from the sampled
  spins with ``SpinModel.energy`` after the timed call. ``thrml (philox2x32 keys)``: the same,
  with its chain keys made ``philox2x32`` (thrml accepts them): the comparison of the two
  algorithms on a fast generator.
- ``... no energy``: ours with nothing but the spins recorded (``extra_fields=()``; for MCMC
  also the default ``track_energy=False``), so the sweeps skip the energy bookkeeping; energies
  computed from the spins after the timed call, as for thrml.
- ``hand-written JAX two-matmul sweep`` (case d, the RBM): hidden given visible, visible given
  hidden, one ``philox4x32`` key for all chains, spins recorded per draw.

The machine's uniform-generation rate (one key per chain, split per step, as a sweep draws) is
measured first, and each of our rows is reported as a fraction of it: exact heat-bath Gibbs
needs one uniform per spin update, so that rate is the limit. On case (c) the script also times
NumPyro's floor: ``MCMC.run`` of a kernel that only draws n uniform spins per step.

Compilation is excluded from every timing: each method is called once with the same shapes
(``first call`` column, compile + run), then the methods of a case are timed in interleaved
rounds (each method once per round, up to ``--reps`` rounds, while its timed total is under
``--budget`` s), keeping each method's best round: the speed of a shared machine drifts over
tens of seconds, and interleaving exposes all methods to the same drift. ``numpyro.infer.MCMC`` re-traces
and re-lowers its sampling loop on every ``run``; a persistent XLA compilation cache (a temporary
directory) lets those later runs reuse the compiled executable, so what remains in their timing
is NumPyro's per-run tracing and setup, which a user pays on every run.

Usage::

    python benchmarks/bench_gibbs.py            # full run (~5-6 min on 2 CPU cores)
    python benchmarks/bench_gibbs.py --quick    # smoke run (thrml on SK skipped: ~2 min compile)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import NamedTuple

import jax

# Persistent compilation cache: lets repeated numpyro MCMC runs (which re-lower their loop on
# every run) reuse the compiled executable, so that compile time stays out of the timings.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="bench_gibbs_xla_"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

import arviz as az
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, DiscreteGibbs
from numpyro.infer.util import log_density

import ergodic_ppl as ep
from ergodic_ppl.kernels.gibbs import color_classes, run_chains

try:
    from ergodic_ppl import SpinGibbs
except ImportError:  # the MCMC adapter is not available in this checkout
    SpinGibbs = None

try:
    import thrml
    from thrml import Block, SamplingSchedule, SpinNode, sample_states
    from thrml.models import IsingEBM, IsingSamplingProgram, hinton_init
except ImportError:  # pip install -e ".[bench]"
    thrml = None

FUNCTIONAL = "ours (functional)"
FUNCTIONAL_BARE = "ours (functional, no energy)"
OURS_MCMC = "ours (MCMC SpinGibbs)"
OURS_MCMC_BARE = "ours (MCMC SpinGibbs, no energy)"
OURS_GENERIC = "ours (MCMC SpinGibbs, Bernoulli sites)"
DISCRETE_GIBBS = "numpyro DiscreteGibbs"
THRML = "thrml"
THRML_PHILOX = "thrml (philox2x32 keys)"
HAND = "hand-written JAX two-matmul sweep"
THRML_KEY_IMPL = "philox2x32"  # thrml's keys in the like-for-like generator comparison


# ---------------------------------------------------------------------------------------- cases
@dataclasses.dataclass
class Case:
    key: str
    label: str
    build: Callable[[], ep.SpinModel]
    beta: float
    chains: int
    draws: dict[str, int]  # method -> number of sweeps


def make_cases(args) -> list[Case]:
    q = args.quick

    def draws(ours, mcmc, dg, thr, generic=None, hand=None):
        return {
            FUNCTIONAL: ours,
            FUNCTIONAL_BARE: ours,
            OURS_MCMC: mcmc,
            OURS_MCMC_BARE: mcmc,
            OURS_GENERIC: generic,
            DISCRETE_GIBBS: dg,
            THRML: thr,
            THRML_PHILOX: thr,
            HAND: hand,
        }

    return [
        Case(
            "a",
            "(a) 2-D Ising 32x32 periodic, beta=0.3, 64 chains",
            lambda: ep.SpinModel.ising_2d(32, 32, coupling=1.0, periodic=True),
            0.3,
            64,
            draws(
                args.draws_a or (200 if q else 2000),
                args.draws_a or (200 if q else 2000),
                args.dg_draws_a or (5 if q else 40),
                args.draws_a or (200 if q else 2000),
            ),
        ),
        Case(
            "b",
            "(b) SK n=256 dense, beta=1.0, 64 chains",
            lambda: ep.SpinModel.sherrington_kirkpatrick(256, jax.random.key(args.seed)),
            1.0,
            64,
            draws(
                args.draws_b or (100 if q else 1000),
                args.draws_b or (100 if q else 1000),
                args.dg_draws_b or (5 if q else 100),
                args.thrml_draws_b or (20 if q else 200),
            ),
        ),
        Case(
            "c",
            "(c) 2-D Ising 8x8 periodic, beta=0.3, 1 chain",
            lambda: ep.SpinModel.ising_2d(8, 8, coupling=1.0, periodic=True),
            0.3,
            1,
            draws(
                args.draws_c or (2000 if q else 20000),
                args.draws_c or (2000 if q else 20000),
                args.dg_draws_c or (500 if q else 20000),
                None,
                generic=args.dg_draws_c or (500 if q else 20000),
            ),
        ),
        Case(
            "d",
            "(d) RBM 784 visible x 500 hidden, W ~ N(0, 0.05^2), beta=1, 100 chains",
            lambda: ep.SpinModel.rbm(784, 500, rng_key=jax.random.key(args.seed), scale=0.05),
            1.0,
            100,
            draws(
                args.draws_d or (50 if q else 500),
                args.draws_d or (50 if q else 500),
                None,
                None,
                hand=args.draws_d or (50 if q else 500),
            ),
        ),
    ]


# -------------------------------------------------------------------------------------- results
@dataclasses.dataclass
class Result:
    case: str
    method: str
    chains: int
    draws: int
    n: int
    first_s: float = math.nan  # first call: compile + run
    time_s: float = math.nan  # timed call (best of reps)
    reps: int = 0
    ess: float = math.nan
    mean_energy: float = math.nan  # per spin
    mcse_energy: float = math.nan  # per spin
    note: str = ""

    @property
    def updates_per_s(self) -> float:
        return self.chains * self.draws * self.n / self.time_s

    @property
    def ess_per_s(self) -> float:
        return self.ess / self.time_s

    @property
    def ok(self) -> bool:
        return math.isfinite(self.time_s)


@dataclasses.dataclass
class Runner:
    """A method set up on one case: ``go()`` runs it (what is timed), ``finish(out)`` computes the
    energy statistics from the last output, on the host (not timed)."""

    result: Result
    go: Callable[[], object] | None = None
    finish: Callable[[object], None] | None = None
    out: object = None
    timed_total: float = 0.0

    def call(self) -> float:
        t0 = time.perf_counter()
        self.out = jax.block_until_ready(self.go())
        return time.perf_counter() - t0


def energy_stats(res: Result, energy: np.ndarray, burn: float) -> None:
    """Fill ESS and mean energy from a ``(chains, draws)`` energy array."""
    energy = np.asarray(energy, dtype=np.float64).reshape(res.chains, -1)
    keep = energy[:, int(burn * energy.shape[1]) :]
    res.ess = float(az.ess(keep, method="bulk"))
    res.mean_energy = float(keep.mean()) / res.n
    res.mcse_energy = float(az.mcse(keep)) / res.n


# -------------------------------------------------------------------------------------- methods
def _spins_energy_stats(res, model, spins, args) -> None:
    """Energy statistics from recorded ``(chains, draws, n)`` spins, computed after timing."""
    energy = jax.jit(jax.vmap(model.energy))(jnp.asarray(spins))
    energy_stats(res, energy, args.burn)


def _energy_or_spins_stats(res, model, record_energy: bool, args):
    """A runner's ``finish`` for an ``(energy, spins)`` output: statistics of the recorded
    energies, or of energies computed from the spins when none were recorded."""

    def finish(out):
        if record_energy:
            energy_stats(res, out[0], args.burn)
        else:
            _spins_energy_stats(res, model, out[1], args)

    return finish


def setup_functional(case, model, draws, key, args, *, record_energy=True) -> Runner:
    method = FUNCTIONAL if record_energy else FUNCTIONAL_BARE
    res = Result(case.key, method, case.chains, draws, model.n)
    res.note = "chromatic heat bath, run_chains" + (
        "" if record_energy else ", extra_fields=() (energies from the spins, after timing)"
    )
    fields = ("energy",) if record_energy else ()

    def go():
        out = run_chains(model, case.beta, key, num_chains=case.chains, num_draws=draws,
                         extra_fields=fields)  # fmt: skip
        return out.energy, out.spins

    return Runner(res, go, _energy_or_spins_stats(res, model, record_energy, args))


def setup_functional_bare(case, model, draws, key, args) -> Runner:
    return setup_functional(case, model, draws, key, args, record_energy=False)


def _mcmc(kernel, case, draws, chain_method):
    return MCMC(
        kernel,
        num_warmup=0,
        num_samples=draws,
        num_chains=case.chains,
        chain_method=chain_method,
        progress_bar=False,
    )


def setup_ours_mcmc(case, model, draws, key, args, *, record_energy=True) -> Runner:
    res = Result(case.key, OURS_MCMC if record_energy else OURS_MCMC_BARE, case.chains, draws,
                 model.n)  # fmt: skip
    if SpinGibbs is None:
        res.note = "n/a: ergodic_ppl.SpinGibbs not importable"
        return Runner(res)
    res.note = 'BoltzmannSpins site, chain_method="vectorized", ' + (
        'track_energy=True, extra_fields=("energy",)' if record_energy else "no extra fields"
    )
    beta = case.beta
    fields = ("energy",) if record_energy else ()

    def spin_model():
        numpyro.sample("s", ep.BoltzmannSpins(model, beta=beta))

    # collecting the energy: let the sweeps keep it (else it is recomputed from the spins per draw)
    kernel = SpinGibbs(spin_model, track_energy=record_energy)
    mcmc = _mcmc(kernel, case, draws, "vectorized")

    def go():
        mcmc.run(key, extra_fields=fields)
        energy = mcmc.get_extra_fields(group_by_chain=True).get("energy")
        return energy, mcmc.get_samples(group_by_chain=True)["s"]

    return Runner(res, go, _energy_or_spins_stats(res, model, record_energy, args))


def setup_ours_mcmc_bare(case, model, draws, key, args) -> Runner:
    return setup_ours_mcmc(case, model, draws, key, args, record_energy=False)


def setup_hand_written(case, model, draws, key, args) -> Runner:
    """The minimal RBM block sweep in plain JAX: hidden given visible, visible given hidden, two
    matrix products on all chains, one philox4x32 key for all chains, spins recorded per draw."""
    res = Result(case.key, HAND, case.chains, draws, model.n)
    nv = model.n_visible
    w, a, b = model.pair_weights, model.fields[:nv], model.fields[nv:]
    beta = case.beta
    res.note = "one key for all chains (philox4x32), no energy, spins recorded as int8"

    @jax.jit
    def sample(key, v):
        def sweep(v, k):
            k_t, k_v = jax.random.split(k)
            p_t = jax.nn.sigmoid(2 * beta * (v @ w + b))
            t = jnp.where(jax.random.uniform(k_t, p_t.shape) < p_t, 1.0, -1.0)
            p_v = jax.nn.sigmoid(2 * beta * (t @ w.T + a))
            v = jnp.where(jax.random.uniform(k_v, p_v.shape) < p_v, 1.0, -1.0)
            return v, jnp.concatenate([v, t], -1).astype(jnp.int8)

        _, spins = jax.lax.scan(sweep, v, jax.random.split(key, draws))
        return jnp.swapaxes(spins, 0, 1)

    key = jax.random.key(args.seed + 7, impl="philox4x32")
    v0 = jnp.where(jax.random.bernoulli(jax.random.key(3), 0.5, (case.chains, nv)), 1.0, -1.0)

    def go():
        return sample(key, v0)

    return Runner(res, go, lambda spins: _spins_energy_stats(res, model, spins, args))


def bernoulli_model(model: ep.SpinModel, beta: float):
    """The Boltzmann distribution as plain Bernoulli sites: x in {0,1}^n, s = 1 - 2x.

    ``log p(x) = n log(1/2) - beta E(1 - 2x)``: the Bernoulli(1/2) prior adds only a constant.
    (Batch shape ``(n,)`` rather than ``.to_event(1)``: DiscreteGibbs needs the site's
    ``enumerate_support``, which ``Independent`` does not provide.)
    """

    def fn():
        x = numpyro.sample("x", dist.Bernoulli(0.5).expand([model.n]))
        numpyro.factor("E", -beta * model.energy(1 - 2 * x))

    return fn


def check_bernoulli_model(model: ep.SpinModel, beta: float, key) -> float:
    """Max deviation of ``log p(x) + beta E(s)`` from a constant over random states (should be
    float rounding only: the two models are the same distribution)."""
    fn = bernoulli_model(model, beta)
    xs = jax.random.bernoulli(key, 0.5, (16, model.n)).astype(jnp.int32)
    vals = np.array(
        [float(log_density(fn, (), {}, {"x": x})[0] + beta * model.energy(1 - 2 * x)) for x in xs]
    )
    return float(np.max(np.abs(vals - vals[0])))


def _bernoulli_runner(res, mcmc, model, key, args) -> Runner:
    def go():
        mcmc.run(key)
        return mcmc.get_samples(group_by_chain=True)["x"]

    def finish(x):
        energy = model.energy(1 - 2 * jnp.asarray(x))  # outside the timing
        energy_stats(res, energy, args.burn)

    return Runner(res, go, finish)


def setup_discrete_gibbs(case, model, draws, key, args) -> Runner:
    res = Result(case.key, DISCRETE_GIBBS, case.chains, draws, model.n)
    dev = check_bernoulli_model(model, case.beta, jax.random.key(1))
    res.note = f"random-scan Gibbs, chain_method=jax.vmap; |log p + beta E - const| <= {dev:.1e}"
    mcmc = _mcmc(DiscreteGibbs(bernoulli_model(model, case.beta)), case, draws, jax.vmap)
    return _bernoulli_runner(res, mcmc, model, key, args)


def setup_ours_generic(case, model, draws, key, args) -> Runner:
    res = Result(case.key, OURS_GENERIC, case.chains, draws, model.n)
    if SpinGibbs is None:
        res.note = "n/a: ergodic_ppl.SpinGibbs not importable"
        return Runner(res)
    res.note = "generic path: the DiscreteGibbs model, unchanged"
    mcmc = _mcmc(SpinGibbs(bernoulli_model(model, case.beta)), case, draws, "vectorized")
    return _bernoulli_runner(res, mcmc, model, key, args)


def thrml_program(model: ep.SpinModel, beta: float):
    """thrml Ising EBM equal to ``model`` at ``beta``, with the colour classes as blocks.

    thrml's energy is ``-beta (sum_i b_i s_i + sum_(i,j) W_ij s_i s_j)``, ours
    ``E = -sum_i h_i s_i - sum_(i<j) J_ij s_i s_j``: so ``b = h``, ``W = J`` over our edge list.
    """
    nodes = [SpinNode() for _ in range(model.n)]
    edges = [(nodes[i], nodes[j]) for i, j in model.edges.tolist()]
    ebm = IsingEBM(
        nodes,
        edges,
        jnp.asarray(model.fields),
        jnp.asarray(model.edge_weights),
        jnp.asarray(beta, dtype=model.fields.dtype),
    )
    classes = color_classes(model)  # networkx colouring, as in thrml's examples
    blocks = [Block([nodes[i] for i in c.tolist()]) for c in classes]
    program = IsingSamplingProgram(ebm, blocks, clamped_blocks=[])
    return nodes, ebm, blocks, program


def setup_thrml(case, model, draws, key, args, *, key_impl=None) -> Runner:
    res = Result(case.key, THRML if key_impl is None else THRML_PHILOX, case.chains, draws, model.n)
    if thrml is None:
        res.note = 'n/a: thrml not installed (pip install -e ".[bench]")'
        return Runner(res)
    t0 = time.perf_counter()
    nodes, ebm, blocks, program = thrml_program(model, case.beta)
    build_s = time.perf_counter() - t0

    # same distribution: thrml's energy / beta equals ours on a random state
    probe = jax.random.bernoulli(jax.random.key(2), 0.5, (model.n,))
    position = {node: i for i, node in enumerate(nodes)}
    block_state = [probe[np.array([position[v] for v in b.nodes])] for b in blocks]
    e_thrml = float(ebm.energy(block_state, blocks)) / case.beta
    e_ours = float(model.energy(2 * probe.astype(jnp.int8) - 1))
    if not np.isclose(e_thrml, e_ours, rtol=1e-4, atol=1e-3):  # float32 sums of ~1e4 terms
        raise RuntimeError(f"thrml energy {e_thrml} != ours {e_ours}")

    # n_warmup=0: the first observation is the initial state (dropped); then `draws` sweeps.
    # (n_warmup >= 1 would compile the unrolled sweep a second time, in the warm-up scan.)
    schedule = SamplingSchedule(n_warmup=0, n_samples=draws + 1, steps_per_sample=1)
    everything = [Block(nodes)]
    run = jax.jit(
        jax.vmap(lambda k, init: sample_states(k, program, schedule, init, [], everything))
    )
    key_init, key_run = jax.random.split(key)
    init = hinton_init(key_init, ebm, blocks, (case.chains,))  # zero fields: uniform spins
    keys = jax.random.split(key_run, case.chains)
    if key_impl is not None:  # the same keys' bits as keys of a faster generator
        keys = jax.vmap(lambda k: jax.random.wrap_key_data(
            jax.random.bits(k, jax.random.key_data(jax.random.key(0, impl=key_impl)).shape,
                            jnp.uint32), impl=key_impl))(keys)  # fmt: skip

    def go():
        return run(keys, init)[0]  # (chains, draws + 1, n) bool, True = +1

    def finish(states):
        spins = 2 * jnp.asarray(states[:, 1:]).astype(jnp.int8) - 1
        energy_stats(res, model.energy(spins), args.burn)  # outside the timing

    sizes = sorted({len(b) for b in blocks})
    res.note = (
        f"IsingSamplingProgram, {len(blocks)} blocks of size {sizes}, sample_states; "
        f"program build {build_s:.1f} s" + (f"; {key_impl} keys" if key_impl else "")
    )
    return Runner(res, go, finish)


def setup_thrml_philox(case, model, draws, key, args) -> Runner:
    return setup_thrml(case, model, draws, key, args, key_impl=THRML_KEY_IMPL)


METHODS = {
    FUNCTIONAL: setup_functional,
    FUNCTIONAL_BARE: setup_functional_bare,
    OURS_MCMC: setup_ours_mcmc,
    OURS_MCMC_BARE: setup_ours_mcmc_bare,
    OURS_GENERIC: setup_ours_generic,
    DISCRETE_GIBBS: setup_discrete_gibbs,
    THRML: setup_thrml,
    THRML_PHILOX: setup_thrml_philox,
    HAND: setup_hand_written,
}


class _FloorState(NamedTuple):
    z: dict
    rng_key: jax.Array


class _FloorKernel(numpyro.infer.mcmc.MCMCKernel):
    """The least an ``MCMCKernel`` can do per step: split its key, draw ``n`` uniform spins."""

    sample_field = "z"

    def __init__(self, n: int):
        self.n = n

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        return _FloorState({"s": jnp.zeros(self.n, jnp.int8)}, rng_key)

    def sample(self, state, model_args, model_kwargs):
        key, sub = jax.random.split(state.rng_key)
        s = jnp.where(jax.random.uniform(sub, (self.n,)) < 0.5, 1, -1).astype(jnp.int8)
        return _FloorState({"s": s}, key)


def numpyro_floor(n: int, draws: int, repeats: int = 5) -> float:
    """Seconds of the best ``MCMC.run`` (one chain, ``draws`` steps) of :class:`_FloorKernel`:
    NumPyro's own per-run and per-step cost, which no kernel can go below."""
    mcmc = MCMC(_FloorKernel(n), num_warmup=0, num_samples=draws, progress_bar=False)
    best = math.inf
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        mcmc.run(jax.random.key(0))
        jax.block_until_ready(mcmc.get_samples())
        best = min(best, time.perf_counter() - t0)
    return best


def uniform_rate(chains: int = 64, n: int = 1024, steps: int = 200) -> dict[str, float]:
    """The machine's uniform-generation rate (uniforms/s), the limit of exact heat-bath Gibbs:
    one key per chain split every step, ``n`` uniforms per chain and step, as a sweep draws
    them; for the package's generator and for JAX's default."""
    out = {}
    for impl in (ep.kernels.rng.DEFAULT_RNG_IMPL, "threefry2x32"):

        def body(carry, _):
            keys, acc = carry
            pairs = jax.vmap(jax.random.split)(keys)
            u = jax.vmap(lambda k: jax.random.uniform(k, (n,)))(pairs[:, 1])
            return (pairs[:, 0], acc + jnp.sum(u)), None

        f = jax.jit(lambda k: jax.lax.scan(body, (k, 0.0), None, length=steps)[0][1])
        keys = jax.random.split(jax.random.key(0, impl=impl), chains)
        f(keys).block_until_ready()
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            f(keys).block_until_ready()
            best = min(best, time.perf_counter() - t0)
        out[impl] = chains * n * steps / best
    return out


# -------------------------------------------------------------------------------------- report
def _fmt(x: float, spec: str = ".3g") -> str:
    return "n/a" if not math.isfinite(x) else format(x, spec)


def table(results: list[Result], cases: list[Case]) -> str:
    head = (
        "| case | method | chains x sweeps | first call (s) | timed (s) | spin updates/s "
        "| ESS(E) | ESS/s | ours/this upd/s | ours/this ESS/s | <E>/n ± MCSE |"
    )
    lines = [head, "|" + "---|" * 11]
    for case in cases:
        rows = [r for r in results if r.case == case.key]
        ref = next((r for r in rows if r.method == FUNCTIONAL and r.ok), None)
        for r in rows:
            if r.ok:
                up = ref.updates_per_s / r.updates_per_s if ref else math.nan
                es = ref.ess_per_s / r.ess_per_s if ref else math.nan
                cells = [
                    f"{r.chains} x {r.draws}",
                    _fmt(r.first_s, ".2f"),
                    _fmt(r.time_s, ".3f"),
                    _fmt(r.updates_per_s),
                    _fmt(r.ess, ".0f"),
                    _fmt(r.ess_per_s),
                    "1" if r is ref else _fmt(up),
                    "1" if r is ref else _fmt(es),
                    f"{r.mean_energy:.4f} ± {r.mcse_energy:.4f}",
                ]
            else:
                cells = [f"{r.chains} x {r.draws}"] + ["n/a"] * 8
            lines.append(f"| {case.key} | {r.method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target(value: float, target: float, unit: str) -> str:
    """``(target >= 80%: met)``-style verdict of a measured ratio against its target."""
    shown = f"{100 * target:.0f}%" if unit == "%" else f"{target:g}x"
    return f"(target >= {shown}: {'met' if value >= target else 'NOT met'})"


def summary(results: list[Result]) -> list[str]:
    def get(case, method):
        return next((r for r in results if r.case == case and r.method == method and r.ok), None)

    out = []
    for case in ("a", "b", "c", "d"):
        for fn_name, mc_name in ((FUNCTIONAL, OURS_MCMC), (FUNCTIONAL_BARE, OURS_MCMC_BARE)):
            fn, mc = get(case, fn_name), get(case, mc_name)
            if fn and mc:
                frac = mc.updates_per_s / fn.updates_per_s
                out.append(
                    f"({case}) {mc_name} keeps {100 * frac:.0f}% of {fn_name} "
                    + _target(frac, 0.8, "%")
                )
    for case, target in (("a", 2.0), ("b", 10.0)):
        for ours_name in (OURS_MCMC, OURS_MCMC_BARE):
            for th_name in (THRML, THRML_PHILOX):
                ours, th = get(case, ours_name), get(case, th_name)
                if ours and th:
                    r = ours.updates_per_s / th.updates_per_s
                    out.append(
                        f"({case}) {ours_name} / {th_name}: {r:.2f}x spin updates/s "
                        + _target(r, target, "x")
                    )
    hand = get("d", HAND)
    for name in (FUNCTIONAL, FUNCTIONAL_BARE, OURS_MCMC_BARE):
        ours = get("d", name)
        if hand and ours:
            sweeps = ours.chains * ours.draws / ours.time_s
            out.append(
                f"(d) {name}: {sweeps:.3g} RBM sweeps/s (chain-sweeps), "
                f"{ours.updates_per_s / hand.updates_per_s:.2f}x the hand-written sweep"
            )
    dg = get("c", DISCRETE_GIBBS)
    for method in (OURS_MCMC, FUNCTIONAL):
        ours = get("c", method)
        if dg and ours:
            r = ours.updates_per_s / dg.updates_per_s
            e = ours.ess_per_s / dg.ess_per_s
            out.append(
                f"(c) {method} / DiscreteGibbs: {r:.0f}x spin updates/s, {e:.0f}x ESS/s "
                + _target(r, 1000.0, "x")
            )
    for case in ("a", "b"):
        fn, th = get(case, FUNCTIONAL), get(case, THRML)
        if fn and th:
            out.append(
                f"({case}) ours (functional) / thrml: {fn.updates_per_s / th.updates_per_s:.2f}x "
                f"spin updates/s, {fn.ess_per_s / th.ess_per_s:.2f}x ESS/s"
            )
    return out


def rate_fractions(results: list[Result], rates: dict[str, float]) -> list[str]:
    """Each of our rows' spin updates/s as a fraction of the machine's uniform rate."""
    limit = rates[ep.kernels.rng.DEFAULT_RNG_IMPL]
    return [
        f"({r.case}) {r.method}: {r.updates_per_s:.3g} upd/s = {r.updates_per_s / limit:.0%} of "
        f"the {ep.kernels.rng.DEFAULT_RNG_IMPL} uniform rate"
        for r in results
        if r.ok and r.method.startswith("ours") and r.case in "abd"
    ]


def environment() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = (
        f"jax {jax.__version__}, numpyro {numpyro.__version__}, arviz {az.__version__}, "
        f"thrml {getattr(thrml, '__version__', 'not installed')}, "
        f"ergodic_ppl {ep.__version__}, python {platform.python_version()}"
    )
    return f"{cpu}, {os.cpu_count()} logical CPUs, JAX backend {jax.default_backend()}\n{versions}"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _progress(res: Result, extra: str = "") -> None:
    print(
        f"  {res.method:40s} {res.chains:3d} x {res.draws:6d}  "
        f"first {_fmt(res.first_s, '.2f'):>7s} s  timed {_fmt(res.time_s, '.3f'):>8s} s "
        f"(best of {res.reps})  {_fmt(res.updates_per_s if res.ok else math.nan):>9s} upd/s  "
        f"ESS {_fmt(res.ess, '.0f'):>7s}  {_fmt(res.ess_per_s if res.ok else math.nan):>9s} "
        f"ESS/s  {res.note}{extra}",
        flush=True,
    )


def run_case(case: Case, model: ep.SpinModel, methods: list[str], args) -> list[Result]:
    """Set up and compile every method (first call), then time them in interleaved rounds.

    The speed of a shared machine drifts by tens of percent over tens of seconds; timing the
    methods in turn, round after round, and keeping each one's best round exposes them to the
    same conditions. A method joins a round only while its timed total is under ``--budget``
    seconds (expensive ones get one round).
    """
    runners: list[Runner] = []
    for method in methods:
        draws = case.draws.get(method)
        if draws is None:
            continue
        res = Result(case.key, method, case.chains, draws, model.n)
        if method == THRML and case.key == "b" and not args.thrml_sk:
            res.note = "skipped (--no-thrml-sk / --quick)"
            runners.append(Runner(res))
            continue
        if method == THRML_PHILOX and case.key == "b":  # another ~100 s compile
            res.note = "skipped on (b): thrml with its default keys is the SK reference"
            runners.append(Runner(res))
            continue
        key = jax.random.key(args.seed + 1)
        try:
            runner = METHODS[method](case, model, draws, key, args)
            if runner.go is not None:
                t0 = time.perf_counter()
                runner.call()  # compile + run
                runner.result.first_s = time.perf_counter() - t0
        except Exception as exc:  # report and go on with the other methods
            traceback.print_exc()
            res.note = f"error: {type(exc).__name__}: {exc}"
            runner = Runner(res)
        print(
            f"  compiled {method} (first call {_fmt(runner.result.first_s, '.1f')} s)", flush=True
        )
        runners.append(runner)
    live = [r for r in runners if r.go is not None]
    for round_ in range(max(1, args.reps)):
        for r in live:
            if round_ > 0 and r.timed_total >= args.budget:
                continue
            dt = r.call()
            r.timed_total += dt
            r.result.time_s = min(r.result.time_s, dt) if r.result.reps else dt
            r.result.reps += 1
    for r in runners:
        if r.go is not None:
            r.finish(r.out)
            r.out = None
        _progress(r.result)
    return [r.result for r in runners]


# ----------------------------------------------------------------------------------------- main
METHOD_NAMES = {
    "functional": FUNCTIONAL,
    "functional_bare": FUNCTIONAL_BARE,
    "mcmc": OURS_MCMC,
    "mcmc_bare": OURS_MCMC_BARE,
    "generic": OURS_GENERIC,
    "discrete_gibbs": DISCRETE_GIBBS,
    "thrml": THRML,
    "thrml_philox": THRML_PHILOX,
    "hand": HAND,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: few sweeps, no thrml on SK")
    p.add_argument("--cases", default="abcd", help="which cases to run (default: abcd)")
    p.add_argument(
        "--methods",
        default=",".join(METHOD_NAMES),
        help="comma list of " + ", ".join(METHOD_NAMES),
    )
    p.add_argument("--draws-a", type=int, help="sweeps for (a), all fast methods (default 2000)")
    p.add_argument("--draws-b", type=int, help="sweeps for (b), ours (default 1000)")
    p.add_argument("--draws-c", type=int, help="sweeps for (c), ours (default 20000)")
    p.add_argument("--draws-d", type=int, help="sweeps for (d), RBM (default 500)")
    p.add_argument("--dg-draws-a", type=int, help="DiscreteGibbs sweeps for (a) (default 40)")
    p.add_argument("--dg-draws-b", type=int, help="DiscreteGibbs sweeps for (b) (default 100)")
    p.add_argument(
        "--dg-draws-c", type=int, help="DiscreteGibbs/generic sweeps for (c) (default 20000)"
    )
    p.add_argument("--thrml-draws-b", type=int, help="thrml sweeps for (b) (default 200)")
    p.add_argument(
        "--thrml-sk",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run thrml on (b) (default: yes, except with --quick; its compile takes minutes)",
    )
    p.add_argument("--burn", type=float, default=0.1, help="fraction of draws dropped for ESS")
    p.add_argument("--reps", type=int, default=5, help="timing rounds per case (best is kept)")
    p.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help="a method joins further timing rounds only while its timed total is under this (s)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.thrml_sk is None:
        args.thrml_sk = not args.quick
    methods = [METHOD_NAMES[m.strip()] for m in args.methods.split(",") if m.strip()]
    print(environment())
    print(
        "Timings exclude compilation (first call = compile + run; timed = best later call). "
        f"ESS: arviz bulk ESS of the energy after dropping the first {args.burn:.0%} of draws."
    )
    if SpinGibbs is None:
        print("NOTE: ergodic_ppl.SpinGibbs is not importable; its rows are n/a.")
    print(f"load average at start: {_load()} (other processes on the machine skew timings)")
    t_start = time.perf_counter()
    rates = uniform_rate()
    print("uniforms/s, 64 chain keys x 1024 per step: "
          + ", ".join(f"{k} {v:.3g}" for k, v in rates.items()), flush=True)  # fmt: skip
    results: list[Result] = []
    cases = [c for c in make_cases(args) if c.key in args.cases]
    for case in cases:
        model = case.build()
        print(f"\n{case.label}: n={model.n}, {model!r}", flush=True)
        results.extend(run_case(case, model, methods, args))
    print("\nResults (ours/this: ratio of ours (functional) to the row's method; >1: ours faster)")
    print(table(results, cases))
    print()
    for line in summary(results) + rate_fractions(results, rates):
        print(line)
    mc = next((r for r in results if r.case == "c" and r.method == OURS_MCMC_BARE and r.ok), None)
    if mc is not None:
        floor = numpyro_floor(mc.n, mc.draws)
        print(
            f"(c) NumPyro's floor: MCMC.run of a kernel that only draws {mc.n} uniform spins per "
            f"step, 1 x {mc.draws}: {floor:.3f} s; {OURS_MCMC_BARE} {mc.time_s:.3f} s "
            f"({mc.time_s / floor:.2f}x the floor)"
        )
    print(
        f"\nTotal benchmark wall time: {time.perf_counter() - t_start:.0f} s; load average at end: {_load()}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [
                    dataclasses.asdict(r)
                    | ({"updates_per_s": r.updates_per_s, "ess_per_s": r.ess_per_s} if r.ok else {})
                    for r in results
                ],
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
