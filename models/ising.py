"""A 2-D Ising ferromagnet below its critical temperature, and the model builders the tests use.

Run it with ``ergodic-ppl analyze models/ising.py``: an 8x8 periodic lattice (coupling
``J = 1``) at ``beta = 0.6``, above Onsager's ``beta_c = log(1 + sqrt 2) / 2 ~ 0.4407``, so the chains order into one of the two magnetised phases and
stay there: ergodicity is broken (no chain visits both signs of ``m``).

The file defines what the CLI reads (``ergodic_ppl/pipeline/models.py``, ``load_model_file``):
``model`` (a NumPyro model with one ``BoltzmannSpins`` site) and ``model_kwargs``.  It also
offers two builders, each returning a NumPyro model ``model(beta)`` for any ``SpinModel``:

* ``boltzmann(spin_model, site="s")``: one ``BoltzmannSpins`` site, the fast path of
  ``SpinGibbs``;
* ``bernoulli_ising(spin_model, site="x")``: the same distribution written with plain
  ``Bernoulli`` bits (bit 0 is spin +1) and a ``numpyro.factor`` energy, the generic path.

This is an example file, not an installed package: load it by path
(``runpy.run_path("models/ising.py")``) or, from the repository root, ``import models``.
"""

from __future__ import annotations

import numpyro
import numpyro.distributions as dist

import ergodic_ppl as ep

ROWS = COLS = 8
BETA = 0.6  # above beta_c ~ 0.4407: the ordered (broken-symmetry) phase

lattice = ep.SpinModel.ising_2d(ROWS, COLS, coupling=1.0)


def boltzmann(spin_model: ep.SpinModel, site: str = "s"):
    """``model(beta)``: one ``BoltzmannSpins`` site, ``p(s) ~ exp(-beta E(s))``."""

    def model(beta=1.0):
        numpyro.sample(site, ep.BoltzmannSpins(spin_model, beta=beta))

    return model


def bernoulli_ising(spin_model: ep.SpinModel, site: str = "x"):
    """``model(beta)``: the Boltzmann distribution of ``spin_model`` over ``Bernoulli`` bits.

    Spin ``s = 1 - 2 x`` (bit 0 is spin +1: the one convention of ``ep.bits_to_spins``,
    written out because the generic kernel evaluates the model at real ``x`` in (0, 1), its
    multilinear extension, which ``bits_to_spins``' ``int8`` result would round); the energy
    enters as
    ``numpyro.factor("energy", -beta E(s))`` — the form NumPyro's ``DiscreteGibbs`` samples.
    """

    def model(beta=1.0):
        with numpyro.plate(f"{site}_plate", spin_model.n):
            x = numpyro.sample(site, dist.Bernoulli(0.5))
        numpyro.factor("energy", -beta * spin_model.energy(1 - 2 * x))

    return model


model = boltzmann(lattice)
model_kwargs = {"beta": BETA}
