"""Training data as spins and as weights over the ``2^n`` states (THEORY.md A.3).

Data arrive as ``(samples, n)`` arrays of ±1 spins or of 0/1 bits (``0 -> +1``, ``1 -> -1``,
the convention of :func:`ergodic_ppl.bits_to_spins`); :func:`as_spin_data` converts them once
and refuses anything ambiguous. :func:`data_weights` counts each state's share ``w_i`` in the
state order of :mod:`ergodic_ppl.exact`.
"""

from __future__ import annotations

import numpy as np

from ..exact import state_index

__all__ = ["MAX_TABLE_N", "as_spin_data", "data_weights", "empirical_entropy"]

MAX_TABLE_N = 20


def as_spin_data(data, n: int | None = None, name: str = "data") -> np.ndarray:
    """``(samples, n)`` ``int8`` ±1 spins from ±1 spins or 0/1 bits (booleans are bits).

    A table holding only the value 1 is ambiguous (all spins up, or all bits set) and is an
    error, as are values outside {-1, 0, 1}, 0 and -1 together, and empty data.

    >>> as_spin_data([[0, 1], [1, 1]]).tolist()
    [[1, -1], [-1, -1]]
    """
    arr = np.asarray(data)
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty (samples, n) array of ±1 spins or 0/1 bits; got "
            f"shape {arr.shape}."
        )
    if n is not None and arr.shape[1] != n:
        raise ValueError(f"`{name}` must have n={n} columns (spins); got shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"`{name}` must be numeric ±1 spins or 0/1 bits; got dtype {arr.dtype}.")
    values = np.unique(arr)
    if not np.isin(values, (-1, 0, 1)).all():
        bad = values[~np.isin(values, (-1, 0, 1))][:5]
        raise ValueError(
            f"`{name}` must hold ±1 spins or 0/1 bits only; found {bad.tolist()}. Binarise "
            "the data first."
        )
    has_zero, has_minus = bool((values == 0).any()), bool((values == -1).any())
    if has_zero and has_minus:
        raise ValueError(
            f"`{name}` mixes 0 and -1: it is neither ±1 spins nor 0/1 bits. Use one encoding."
        )
    if has_zero:
        return (1 - 2 * arr).astype(np.int8)
    if not has_minus:
        raise ValueError(
            f"`{name}` holds only the value 1, which is ambiguous (all spins +1, or all bits "
            "1 = spins -1). Convert explicitly: pass `ep.bits_to_spins(bits)` or int8 spins."
        )
    return arr.astype(np.int8)


def data_weights(data, n: int | None = None) -> np.ndarray:
    """Training weights ``w_i`` (shares of the samples, sum 1) of all ``2^n`` states, in the
    order of ``ep.exact.all_states`` (n <= 20)."""
    s = as_spin_data(data, n)
    n = s.shape[1]
    if n > MAX_TABLE_N:
        raise ValueError(
            f"A weight table has 2^n entries; n={n} exceeds MAX_TABLE_N={MAX_TABLE_N}. For "
            "larger n use the sample-based functions (ep.thermo.training_potential with "
            "`log_z`, persistent-chain training)."
        )
    counts = np.bincount(state_index(s), minlength=1 << n)
    return counts / counts.sum()


def empirical_entropy(data) -> float:
    """Entropy ``-sum_i x_i ln x_i`` (nats) of the data's distinct states, any ``n``."""
    s = as_spin_data(data)
    _, counts = np.unique(s, axis=0, return_counts=True)
    x = counts / counts.sum()
    return float(-(x * np.log(x)).sum())
