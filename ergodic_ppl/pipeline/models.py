"""The models the commands run: the embedded defaults of ``analyze`` (a Hopfield network that
breaks ergodicity) and ``sample`` (a 16x16 Ising ferromagnet), a user's model file, the one
``BoltzmannSpins`` site of a model, and the ``train`` model specifications
(:func:`parse_model`: ``"pairwise"``, ``"rbm:H"``, a :class:`SpinModel`).

A model file is a Python file defining a callable ``model`` (a NumPyro model whose latent
sites are binary) and optionally a dict ``model_kwargs`` and an array ``patterns`` (P, n) of ±1
patterns whose overlaps are diagnosed.  A file that cannot be used raises
:class:`ModelFileError` with a one-line message.
"""

from __future__ import annotations

import inspect
import runpy
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_BETAS",
    "HOPFIELD_BETA",
    "HOPFIELD_N",
    "HOPFIELD_PATTERNS",
    "ModelFileError",
    "boltzmann_site",
    "default_hopfield",
    "default_models",
    "load_model_file",
    "parse_model",
    "train_model",
]

DEFAULT_BETAS = (0.3, 0.6)
HOPFIELD_N, HOPFIELD_PATTERNS, HOPFIELD_BETA = 64, 3, 2.0


class ModelFileError(ValueError):
    """A model (file) that cannot be used; the CLI reports it on stderr with exit status 2."""


def default_hopfield():
    """``analyze``'s default, ``[(name, model, model_kwargs, patterns)]``: a Hopfield network of
    64 spins storing 3 random patterns at beta = 2, below its retrieval temperature, where
    chains from random starts stay in different pattern basins."""
    import numpyro

    from ..distributions import BoltzmannSpins
    from ..spins import SpinModel

    rng = np.random.default_rng(0)
    patterns = rng.choice(np.array([-1, 1], np.int8), size=(HOPFIELD_PATTERNS, HOPFIELD_N))
    network = SpinModel.hopfield(patterns)

    def hopfield(beta):
        numpyro.sample("s", BoltzmannSpins(network, beta=beta))

    name = f"hopfield{HOPFIELD_N}_p{HOPFIELD_PATTERNS}_beta{HOPFIELD_BETA}"
    return [(name, hopfield, {"beta": HOPFIELD_BETA}, patterns)]


def default_models():
    """``sample``'s default, ``[(name, model, model_kwargs, None)]``: a 16x16 periodic Ising
    ferromagnet at each of :data:`DEFAULT_BETAS`."""
    import numpyro

    from ..distributions import BoltzmannSpins
    from ..spins import SpinModel

    lattice = SpinModel.ising_2d(16, 16, coupling=1.0)

    def ising(beta):
        numpyro.sample("s", BoltzmannSpins(lattice, beta=beta))

    return [(f"ising16x16_beta{beta}", ising, {"beta": beta}, None) for beta in DEFAULT_BETAS]


def load_model_file(path: Path):
    """``[(name, model, model_kwargs, patterns or None)]`` from a user's model file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist.")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # noqa: BLE001 - report any failure of the user's file
        raise ModelFileError(f"running {str(path)!r} failed: {type(exc).__name__}: {exc}") from exc
    model = namespace.get("model")
    if not callable(model):
        raise ModelFileError(
            f"{str(path)!r} must define a callable `model` "
            "(a NumPyro model with binary latent sites)."
        )
    kwargs = namespace.get("model_kwargs", {})
    if not isinstance(kwargs, dict):
        raise ModelFileError(f"`model_kwargs` in {str(path)!r} must be a dict.")
    check_kwargs(model, kwargs, repr(str(path)))
    return [(path.stem, model, kwargs, namespace.get("patterns"))]


def check_kwargs(model, kwargs, where: str) -> None:
    """Every ``model_kwargs`` key must be a parameter of ``model`` (checked before sampling)."""
    try:
        inspect.signature(model).bind_partial(**kwargs)
    except TypeError as exc:
        raise ModelFileError(
            f"`model_kwargs` in {where} do not fit `model{inspect.signature(model)}`: {exc}."
        ) from exc
    except ValueError:  # a callable without an inspectable signature: let the run tell
        pass


def boltzmann_site(name, model, kwargs, purpose: str):
    """``(SpinModel, beta)`` of the one ``BoltzmannSpins`` site of ``model(**kwargs)`` (traced
    once, before any sampling), or a :class:`ModelFileError` saying what ``purpose`` needs."""
    from ..diagnostics.inputs import spin_model_of

    try:
        found = spin_model_of(model, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's model is reported
        raise ModelFileError(f"tracing `model` of {name!r} failed: {exc}") from exc
    if found is None or np.ndim(found[2]):
        raise ModelFileError(
            f"{purpose} needs `model` of {name!r} to sample one BoltzmannSpins site at one "
            "(scalar) beta."
        )
    return found[1], float(found[2])


def train_model(spec: str):
    """``(model, beta)`` of a ``train --model`` specification: ``"pairwise"`` and ``"rbm:H"``
    as they are (at beta 1), or the spin model and beta of a model file's one
    ``BoltzmannSpins`` site."""
    if not spec.endswith(".py"):
        return spec, 1.0
    [(_, fn, kwargs, _)] = load_model_file(Path(spec))
    model, beta = boltzmann_site(spec, fn, kwargs, "train --model")
    return model, float(beta)


def parse_model(spec, n: int, *, seed: int = 0, beta: float = 1.0, train=None):
    """``(SpinModel, visible or None, description)`` of a model specification for ``n`` data
    columns: ``"pairwise"`` (a fully visible Boltzmann machine, every field and pair, its fields
    started at the smoothed independent-spin values ``atanh(m_i) / beta`` of ``train``),
    ``"rbm:H"`` (``H`` hidden spins, :meth:`SpinModel.rbm`, weights ``N(0, 0.01^2)``, visible
    fields at the same smoothed marginals of ``train``, hidden fields 0), or a
    :class:`SpinModel` (its first ``n`` spins visible when it has more)."""
    import jax

    from ..spins import SpinModel

    if isinstance(spec, SpinModel):
        if spec.n < n:
            raise ValueError(f"the model has {spec.n} spins; the data have {n} columns.")
        visible = None if spec.n == n else np.arange(n)
        return spec, visible, f"SpinModel(n={spec.n})"
    if not isinstance(spec, str):
        raise ValueError(f'`model` must be "pairwise", "rbm:H" or a SpinModel; got {spec!r}.')
    from ..free_energy import base_rate_fields

    fields = None if train is None else base_rate_fields(train, beta)
    if spec == "pairwise":
        return SpinModel.fully_connected(n, fields=fields), None, f"pairwise BM on {n} spins"
    if spec.startswith("rbm:"):
        try:
            hidden = int(spec[4:])
        except ValueError:
            hidden = 0
        if hidden < 1:
            raise ValueError(f'`model` "rbm:H" needs a positive integer H; got {spec!r}.')
        model = SpinModel.rbm(
            n, hidden, rng_key=jax.random.key(10_000 + seed), visible_fields=fields
        )
        return model, np.arange(n), f"RBM {n} visible x {hidden} hidden"
    raise ValueError(
        f'`model` must be "pairwise", "rbm:H" (H hidden spins) or a model file; got {spec!r}.'
    )
