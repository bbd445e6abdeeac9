"""Free-energy profile along the magnetization, reweighted across a tempering ladder, against
exact enumeration."""

import jax
import numpy as np
import pytest

import ergodic_ppl as ep
from ergodic_ppl import free_energy as fe


def test_profile_from_ladder_matches_exact_double_well():
    lattice = ep.SpinModel.ising_2d(4, 4)
    beta = 0.6
    ladder = ep.kernels.tempering.geometric_ladder(beta, 0.1, 8)
    trace = ep.run_tempering(lattice, ladder, jax.random.key(0), num_chains=4, num_draws=2000,
                             num_warmup=256)  # fmt: skip
    betas = np.asarray(trace.final_state.betas[0])
    mag = np.asarray(trace.spins, np.float32).mean(-1)  # (chains, draws, rungs)
    bins = np.linspace(-1.0625, 1.0625, 18)  # one bin per attainable m = k/8
    centres, F, se = fe.profile_from_ladder(mag, np.asarray(trace.energy), betas, bins=bins)

    states = ep.exact.all_states(16)
    hist, _ = np.histogram(states.mean(1), bins=bins, weights=ep.exact.probabilities(lattice, beta))
    F_exact = -np.log(hist) / beta
    F_exact -= F_exact.min()
    assert np.all(np.isfinite(F))  # every magnetization is visited through the ladder
    # both profiles are shifted to min 0; compare shape within 4 error bars plus the
    # uncertainty of the shift (the error of the minimum bin)
    tol = 4 * np.hypot(se, se[np.argmin(F)])
    assert np.all(np.abs(F - F_exact) < tol), np.c_[centres, F, F_exact, tol]
    # the barrier between the two ordered states is resolved: > 10 (in units of 1/beta)
    assert F[8] - F[0] > 10


def test_profile_from_ladder_bad_input():
    rng = np.random.default_rng(0)
    betas = np.array([1.0, 0.5, 0.0])
    energies = rng.normal(size=(2, 10, 3))
    with pytest.raises(ValueError, match="shape of `energies`"):
        fe.profile_from_ladder(rng.random((2, 5, 3)), energies, betas, bins=3)
    with pytest.raises(ValueError, match="target"):
        fe.profile_from_ladder(rng.random((2, 10, 3)), energies, betas, target=3, bins=3)
    with pytest.raises(ValueError, match="K = len"):
        fe.mbar_from_ladder(energies[0], betas)  # (draws, K): the chain axis is missing
    with pytest.raises(ValueError, match="K = len"):
        fe.mbar_from_ladder(energies, betas[:2])
