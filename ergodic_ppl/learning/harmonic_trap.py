"""The harmonic trap: learning a Gaussian mean with minimal excess work (docs/THEORY.md B.3).

Model energy ``E_theta(x) = (x - theta)^2 / (2 sigma^2)`` (kT = 1), persistent chains moving by
overdamped Langevin dynamics with mobility ``mu`` (relaxation time ``tau_r = sigma^2 / mu``),
data mean ``m``, distance ``D = m - theta_0``. The PCD gradient of the NLL is
``(<x>_chains - m) / sigma^2``; a learning-rate schedule ``eta(t)`` moves
``dtheta/dt = eta(t) (m - <x>_chains) / sigma^2``. ``F`` does not depend on ``theta``, so the
excess work is the mean work ``<W> = <sum (E_theta'(x) - E_theta(x))>``.

The minimal excess work in time ``tau`` is ``W* = D^2 / (mu tau + 2 sigma^2)``, reached by
controlling the rate alone (independent of the unknown ``m``): an initial impulse
``A_0 = sigma^4 / (mu tau + 2 sigma^2)`` (``Delta theta = A_0 (m - <x>) / sigma^2``), then
``eta(t) = sigma^2 / (tau + 2 tau_r - t)``, a final impulse ``A_tau = sigma^2 / 2``, then stop.

:func:`simulate` is the reference sampler: many chains, Euler-Maruyama, the gradient from the
chains' mean (PCD), the work booked per chain at fixed state. :func:`mean_dynamics` integrates
the exact equations of the means (a linear ODE), which give ``<W>`` without sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_count

__all__ = [
    "TrapSchedule",
    "TrapRun",
    "constant_rate_reaching",
    "constant_schedule",
    "mean_dynamics",
    "min_excess_work",
    "optimal_schedule",
    "simulate",
]


class TrapSchedule(NamedTuple):
    """A learning-rate protocol on ``[0, tau]``: impulses at both ends and a rate between."""

    tau: float
    initial_impulse: float
    rate: Callable  # t -> eta(t), jnp-traceable
    final_impulse: float


class TrapRun(NamedTuple):
    """Result of :func:`simulate`: the mean excess work over all chains of all replicas and its
    standard error over the replicas (each replica's chains share one noisy parameter path, so
    their works are not independent; the replicas are), the first replica's final parameter,
    its chains' final mean and its parameter trajectory ``(steps + 1,)``, and the work of every
    chain ``(num_replicas * num_chains,)``, replica by replica."""

    excess_work: float
    excess_work_stderr: float
    theta: float
    chain_mean: float
    theta_path: np.ndarray
    work: np.ndarray


def _positive(value, name):
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and > 0; got {value}.")
    return value


def min_excess_work(distance, tau, sigma=1.0, mu=1.0) -> float:
    """``W* = D^2 / (mu tau + 2 sigma^2)`` (docs/THEORY.md B.3)."""
    tau, sigma, mu = _positive(tau, "tau"), _positive(sigma, "sigma"), _positive(mu, "mu")
    return float(distance) ** 2 / (mu * tau + 2 * sigma**2)


def optimal_schedule(tau, sigma=1.0, mu=1.0) -> TrapSchedule:
    """The minimal-excess-work schedule: ``A_0 = sigma^4 / (mu tau + 2 sigma^2)``,
    ``eta(t) = sigma^2 / (tau + 2 tau_r - t)``, ``A_tau = sigma^2 / 2``."""
    tau, sigma, mu = _positive(tau, "tau"), _positive(sigma, "sigma"), _positive(mu, "mu")
    tau_r = sigma**2 / mu
    return TrapSchedule(
        tau=tau,
        initial_impulse=sigma**4 / (mu * tau + 2 * sigma**2),
        rate=lambda t: sigma**2 / (tau + 2 * tau_r - t),
        final_impulse=sigma**2 / 2,
    )


def constant_schedule(tau, rate) -> TrapSchedule:
    """A constant learning rate ``eta`` on ``[0, tau]``, no impulses (the baseline)."""
    tau, rate = _positive(tau, "tau"), _positive(rate, "rate")
    return TrapSchedule(tau=tau, initial_impulse=0.0, rate=lambda t: rate, final_impulse=0.0)


def constant_rate_reaching(tau, fraction=0.99, sigma=1.0, mu=1.0) -> float:
    """The smallest constant rate whose mean dynamics bring ``theta`` to ``fraction`` of the
    distance at ``tau`` (bracketed on a geometric grid, then Brent's method)."""
    from scipy.optimize import brentq

    def short(rate):
        return mean_dynamics(constant_schedule(tau, rate), 1.0, sigma, mu)[1] - fraction

    grid = np.geomspace(1e-3, 1e3, 61) * sigma**2 / tau
    values = [short(r) for r in grid]
    above = [i for i, v in enumerate(values) if v > 0]
    if not above or above[0] == 0:
        raise ValueError(f"No constant rate in [{grid[0]}, {grid[-1]}] reaches {fraction}.")
    i = above[0]
    return float(brentq(short, grid[i - 1], grid[i], xtol=1e-12))


def mean_dynamics(schedule: TrapSchedule, distance=1.0, sigma=1.0, mu=1.0, dt=None):
    """Exact means for infinitely many chains: ``(excess work, final theta)``.

    ``d<x>/dt = -mu (<x> - theta) / sigma^2``, ``dtheta/dt = eta (m - <x>) / sigma^2``,
    ``d<W>/dt = (theta - <x>) / sigma^2 dtheta/dt`` (scipy's DOP853, rtol 1e-11), plus the
    impulses' work ``(Delta theta^2 + 2 Delta theta (theta - <x>)) / (2 sigma^2)`` (the
    Gaussian chains keep variance ``sigma^2``). Starts at ``theta = <x> = 0``, ``m = distance``.
    ``dt``, when given, caps the integrator's step.
    """
    from scipy.integrate import solve_ivp

    s2, m = sigma**2, float(distance)

    def impulse(theta, x, amount):
        d = amount * (m - x) / s2
        return theta + d, (d**2 + 2 * d * (theta - x)) / (2 * s2)

    theta, w = impulse(0.0, 0.0, schedule.initial_impulse)

    def deriv(t, y):
        theta, x, _ = y
        dtheta = float(schedule.rate(t)) * (m - x) / s2
        return [dtheta, -mu * (x - theta) / s2, (theta - x) / s2 * dtheta]

    sol = solve_ivp(
        deriv, (0.0, schedule.tau), [theta, 0.0, w], method="DOP853", rtol=1e-11, atol=1e-13,
        max_step=np.inf if dt is None else dt,
    )  # fmt: skip
    theta, x, w = sol.y[:, -1]
    theta, w_end = impulse(theta, x, schedule.final_impulse)
    return float(w + w_end), float(theta)


def simulate(
    schedule: TrapSchedule, *, rng_key, distance=1.0, sigma=1.0, mu=1.0, num_chains=10_000,
    dt=1e-3, num_replicas=8,
) -> TrapRun:  # fmt: skip
    """Train ``theta`` from 0 towards the data mean ``distance`` with persistent Langevin
    chains started in equilibrium at ``theta_0 = 0``; return the excess work per chain.

    Per step of ``dt``: the gradient from the chains' mean, ``Delta theta = eta(t) dt
    (m - <x>) / sigma^2``, the work ``E_theta'(x) - E_theta(x)`` booked on every chain at its
    state, then one Euler-Maruyama step ``x += -mu (x - theta) / sigma^2 dt + sqrt(2 mu dt) xi``.
    Impulses are updates with ``eta dt`` replaced by ``A``. ``num_replicas`` independent
    trainings of ``num_chains`` chains each give the error bar: within one, the chains share
    the parameter path (its noise moves every chain's work alike), so a standard error over
    the chains alone would be too small (by 1.5x at 20 000 chains, tau = 2).
    """
    sigma, mu = _positive(sigma, "sigma"), _positive(mu, "mu")
    dt = _positive(dt, "dt")
    if isinstance(num_chains, bool) or int(num_chains) != num_chains or num_chains < 2:
        raise ValueError(f"`num_chains` must be an integer >= 2; got {num_chains!r}.")
    num_replicas = check_count("num_replicas", num_replicas, 2)
    s2, m = sigma**2, float(distance)
    steps = max(1, round(schedule.tau / dt))
    h = schedule.tau / steps

    def energy(x, theta):
        return (x - theta) ** 2 / (2 * s2)

    def update(x, theta, work, amount):
        new = theta + amount * (m - jnp.mean(x)) / s2
        return new, work + energy(x, new) - energy(x, theta)

    def step(carry, inputs):
        x, theta, work = carry
        k, t = inputs
        theta, work = update(x, theta, work, schedule.rate(t) * h)
        noise = jax.random.normal(k, x.shape)
        x = x - mu * (x - theta) / s2 * h + jnp.sqrt(2 * mu * h) * noise
        return (x, theta, work), theta

    @jax.jit
    @jax.vmap
    def run(rng_key):
        key_init, rng_key = jax.random.split(rng_key)
        x0 = sigma * jax.random.normal(key_init, (int(num_chains),))
        theta, work = update(x0, 0.0, jnp.zeros_like(x0), schedule.initial_impulse)
        times = jnp.arange(steps) * h
        (x, theta_end, work), path = jax.lax.scan(
            step, (x0, theta, work), (jax.random.split(rng_key, steps), times)
        )
        theta_end, work = update(x, theta_end, work, schedule.final_impulse)
        return x, theta_end, work, jnp.concatenate([jnp.array([theta]), path])

    x, theta, work, path = run(jax.random.split(rng_key, num_replicas))
    work = np.asarray(work, np.float64)  # (replicas, chains)
    replica_means = work.mean(1)
    return TrapRun(
        excess_work=float(work.mean()),
        excess_work_stderr=float(replica_means.std(ddof=1) / np.sqrt(num_replicas)),
        theta=float(theta[0]),
        chain_mean=float(jnp.mean(x[0])),
        theta_path=np.asarray(path[0]),
        work=work.reshape(-1),
    )
