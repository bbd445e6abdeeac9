"""Input validation shared by every entry point: one rule per kind of argument.

DESIGN.md section 4 ("Errors"): bad input raises a ``ValueError`` that names the argument and
the fix; nothing is silently coerced. Every check runs on concrete (host) values only; traced
values pass through unchanged, since they cannot be inspected inside ``jit``.

Rules:

- **beta** (inverse temperature): a finite, non-negative real scalar. ``beta = 0`` is the
  uniform distribution. A negative ``beta`` is refused everywhere; flip the sign of the energy
  instead with ``model.scaled(-1.0, -1.0)``. Where an entry point accepts one ``beta`` per chain
  or per rung it says so and passes ``allow_vector=True``. Computations that need
  ``beta > 0`` (free energies ``-log Z / beta``, training, mean field) pass ``positive=``.
- **model**: a :class:`ergodic_ppl.SpinModel`, not a NumPyro model function or an array.
- **counts** (draws, chains, steps, sweeps): a Python or NumPy integer at or above its
  minimum; a bool or a float (even 5.0) is refused.
- **keys**: a JAX key, typed (``jax.random.key(0)``, any implementation) or raw ``uint32`` key
  data (``jax.random.PRNGKey(0)``). An integer seed is refused by name rather than failing deep
  in JAX: wrap it as ``jax.random.key(seed)``.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np

__all__ = ["check_beta", "check_count", "check_key", "check_spin_model", "is_concrete"]


def is_concrete(x) -> bool:
    """Whether ``x`` can be inspected on the host (not a JAX tracer)."""
    return not isinstance(x, jax.core.Tracer)


def check_beta(beta, name: str = "beta", *, allow_vector: bool = False, positive: str = ""):
    """Validate an inverse temperature: finite, ``>= 0``, a scalar unless ``allow_vector``.

    ``positive``: a reason (e.g. ``"to train"``) makes ``beta = 0`` an error too, for the
    computations that divide by it or need a non-uniform distribution.

    Returns ``beta`` unchanged when traced; otherwise a Python ``float`` for a scalar, or a
    float64 NumPy array when ``allow_vector`` and ``beta`` has dimensions.

    >>> check_beta(0.5)
    0.5
    """
    if not is_concrete(beta):
        return beta
    if isinstance(beta, str | bytes) or beta is None:
        raise ValueError(f"`{name}` must be a real number (inverse temperature); got {beta!r}.")
    arr = np.asarray(beta)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(
            f"`{name}` must be a real number (inverse temperature); got {beta!r} "
            f"of dtype {arr.dtype}."
        )
    if arr.ndim and not allow_vector:
        raise ValueError(
            f"`{name}` must be a scalar; got shape {arr.shape}. For several temperatures use "
            "parallel tempering (`ep.run_tempering` / `ep.ParallelTempering`)."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite; got {beta!r}.")
    if np.any(arr < 0):
        raise ValueError(
            f"`{name}` must be non-negative (beta = 0 is the uniform distribution); got "
            f"{beta!r}. To flip the sign of the energy use `model.scaled(-1.0, -1.0)`."
        )
    if positive and np.any(arr == 0):
        raise ValueError(f"`{name}` must be > 0 {positive}; got {beta!r}.")
    if arr.ndim:
        return arr.astype(np.float64)
    return float(arr) if not isinstance(beta, numbers.Real) else float(beta)


def check_count(name: str, value, low: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= low`` (Python or NumPy integer;
    a bool or a float such as 5.0 is refused); else raise a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}; got {value!r}.")
    return int(value)


def check_key(rng_key, name: str = "rng_key"):
    """Return ``rng_key`` if it is a JAX key (typed, or raw ``uint32`` key data such as
    ``jax.random.PRNGKey(0)``, one or a batch); else raise a ``TypeError`` naming ``name``."""
    dtype = getattr(rng_key, "dtype", None)
    if dtype is not None and (
        jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
        or (dtype == np.uint32 and np.ndim(rng_key) >= 1)
    ):
        return rng_key
    raise TypeError(
        f"`{name}` must be a JAX random key such as jax.random.key(0); got {rng_key!r}"
        + (
            f" (wrap a seed as jax.random.key({rng_key}))."
            if isinstance(rng_key, numbers.Integral)
            else "."
        )
    )


def check_spin_model(model, name: str = "model"):
    """Return ``model`` if it is a :class:`~ergodic_ppl.SpinModel`; else raise ``ValueError``.

    The message names ``name`` and says what was given instead (a NumPyro model function, an
    array, a ``BoltzmannSpins`` distribution) and how to get a ``SpinModel`` from it.
    """
    from .spins import SpinModel

    if isinstance(model, SpinModel):
        return model
    if isinstance(getattr(model, "model", None), SpinModel):
        hint = f"a {type(model).__name__} was given: pass its SpinModel, its `.model` attribute"
    elif callable(model):
        hint = (
            "a NumPyro model function was given: pass the SpinModel its BoltzmannSpins site "
            "uses (e.g. `ep.diagnostics.spin_model_of(model_fn)`)"
        )
    elif isinstance(model, np.ndarray | jax.Array | list | tuple):
        hint = (
            "an array was given: build a model with `ep.SpinModel(couplings=J, fields=h)` "
            "or `ep.SpinModel.from_edges(...)`"
        )
    else:
        hint = f"got {type(model).__name__}"
    raise ValueError(f"`{name}` must be an ergodic_ppl.SpinModel; {hint}.")
