"""Training data as spins and as weights over the ``2^n`` states (docs/THEORY.md A.3).

Data arrive as ``(samples, n)`` arrays of ±1 spins; :func:`as_spin_data` checks them once and
refuses 0/1 bits (and booleans) with the fix, ``ep.bits_to_spins(bits)`` (bit 0 -> +1, bit 1 ->
-1, the package's one convention, :mod:`ergodic_ppl.spins.values`), instead of guessing the
encoding from the values. :func:`data_weights` counts each state's share ``w_i`` in the state
order of :mod:`ergodic_ppl.exact`.
"""

from __future__ import annotations

import numpy as np

from ..exact import ENUMERATION_LIMIT, state_index
from ..spins.values import BITS_HINT

__all__ = ["as_spin_data", "data_weights", "empirical_entropy"]


def as_spin_data(data, n: int | None = None, name: str = "data") -> np.ndarray:
    """``(samples, n)`` ``int8`` ±1 spins, checked; ``name`` is the argument errors name.

    Only ±1 values are spins (a table of only +1 too). 0/1 bits and booleans are refused with
    the fix, ``ep.bits_to_spins(bits)`` (bit 0 -> +1, bit 1 -> -1), as are other values and
    empty data.

    >>> as_spin_data([[1, -1], [1, 1]]).tolist()
    [[1, -1], [1, 1]]
    >>> import ergodic_ppl as ep
    >>> as_spin_data(ep.bits_to_spins([[0, 1], [1, 1]])).tolist()
    [[1, -1], [-1, -1]]
    """
    arr = np.asarray(data)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty (samples, n) array of ±1 spins; got shape {arr.shape}."
        )
    if n is not None and arr.shape[1] != n:
        raise ValueError(f"`{name}` must have n={n} columns (spins); got shape {arr.shape}.")
    if arr.dtype == bool:
        raise ValueError(
            f"`{name}` is a boolean array (0/1 bits); the core API takes ±1 spins: {BITS_HINT}."
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"`{name}` must be numeric ±1 spins; got dtype {arr.dtype}.")
    values = np.unique(arr)
    if not np.isin(values, (-1, 0, 1)).all():
        bad = values[~np.isin(values, (-1, 0, 1))][:5]
        raise ValueError(
            f"`{name}` must contain only -1 and +1; found {bad.tolist()}. Binarise the data "
            f"first; {BITS_HINT}."
        )
    if (values == 0).any():
        what = "mixes 0 and -1" if (values == -1).any() else "holds 0/1 bits"
        raise ValueError(
            f"`{name}` {what}: it must contain only -1 and +1 (the core API takes ±1 spins); "
            f"{BITS_HINT}."
        )
    return arr.astype(np.int8)


def data_weights(data, n: int | None = None) -> np.ndarray:
    """Training weights ``w_i`` (shares of the samples, sum 1) of all ``2^n`` states, in the
    order of ``ep.exact.all_states`` (n <= 20)."""
    s = as_spin_data(data, n)
    n = s.shape[1]
    if n > ENUMERATION_LIMIT:
        raise ValueError(
            f"A weight table has 2^n entries; n={n} exceeds ENUMERATION_LIMIT={ENUMERATION_LIMIT}. For "
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
