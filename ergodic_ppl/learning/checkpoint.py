"""Checkpoints of a training run: the whole loop state in one ``.npz``, written atomically.

A checkpoint holds every leaf of the training carry (parameters, optimiser state, chain
states, per-chain keys, accumulated work), the run's key, the number of updates done, the
history so far and a fingerprint of the run's configuration. It is written atomically
(:func:`ergodic_ppl.atomic.atomic_path`: a temporary file beside the target, moved into place
with ``os.replace``), so an interrupted write never leaves a half checkpoint. Loading checks the
fingerprint and every leaf's shape and dtype against the run being resumed; a corrupt or
mismatched file is an error, never a silent restart. No pickles: arrays only. A leaf of a run
sharded over a ``jax.sharding.Mesh`` (``fit(..., mesh=)``) is loaded with the sharding of the
run being resumed, so a resumed run stays split over the devices.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import jax
import numpy as np

from ..atomic import atomic_path

__all__ = ["changed_settings", "load_checkpoint", "save_checkpoint"]

FORMAT = "ergodic_ppl.learning checkpoint v1"


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_numpy(x) -> np.ndarray:
    return np.asarray(jax.random.key_data(x)) if _is_key(x) else np.asarray(x)


def _wrap_like(values, like):
    """Raw key data as typed keys of ``like``'s PRNG implementation (threefry, philox, ...)."""
    return jax.random.wrap_key_data(values, impl=jax.random.key_impl(like))


def _placed_like(values: np.ndarray, like):
    """``values`` as a JAX array sharded like ``like`` (the chain axis over a mesh), or on the
    default device when ``like`` lives on one device."""
    sharding = getattr(like, "sharding", None)
    if isinstance(sharding, jax.sharding.NamedSharding) and len(sharding.device_set) > 1:
        # raw key data has one more (trailing) axis than the keys: the same spec fits it
        return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])
    return jax.numpy.asarray(values)


def save_checkpoint(path, carry, rng_key, done: int, records: dict, fingerprint: dict) -> None:
    """Write the loop state atomically to ``path``."""
    path = Path(path)
    leaves = jax.tree.leaves(carry)
    arrays = {f"leaf_{i}": _to_numpy(x) for i, x in enumerate(leaves)}
    arrays["key"] = _to_numpy(rng_key)
    for name, values in records.items():
        arrays[f"history_{name}"] = np.asarray(values)
    meta = {"format": FORMAT, "done": int(done), "fingerprint": fingerprint}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    # a full disk, Ctrl-C: the previous checkpoint stays, no half file
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def changed_settings(saved: dict, now: dict, *, then: str = "then") -> str:
    """The settings that differ between a run's record and this run, as
    ``"name: <then> value, now value; ..."`` (empty when none): the one wording of every
    refused resume."""
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return "; ".join(f"{k}: {then} {saved.get(k)!r}, now {now.get(k)!r}" for k in diff)


def load_checkpoint(path, like_carry, like_key, fingerprint: dict):
    """``(carry, key, done, records)`` from ``path``, checked against the run's own
    ``like_carry`` (structure, shapes, dtypes) and ``fingerprint``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
    ) as err:  # (JSON, Unicode: ValueError)
        raise ValueError(
            f"Checkpoint {path} is not readable ({type(err).__name__}: {err}); it is corrupt or "
            "not a checkpoint. Move it away to start a new run."
        ) from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"Checkpoint {path} has format {meta.get('format')!r}, not {FORMAT!r}.")
    details = changed_settings(meta["fingerprint"], fingerprint, then="checkpoint")
    if details:
        raise ValueError(
            f"Checkpoint {path} belongs to a different run ({details}). Resume with the same "
            "settings, or use another checkpoint path."
        )
    like_leaves, treedef = jax.tree.flatten(like_carry)
    leaves = []
    for i, like in enumerate(like_leaves):
        name = f"leaf_{i}"
        want = _to_numpy(like)
        got = arrays.get(name)
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(
                f"Checkpoint {path}: entry {name} is "
                f"{'missing' if got is None else f'{got.dtype}{got.shape}'}, the run expects "
                f"{want.dtype}{want.shape}. The checkpoint does not match this model/optimiser."
            )
        placed = _placed_like(got, like)
        leaves.append(_wrap_like(placed, like) if _is_key(like) else placed)
    if f"leaf_{len(like_leaves)}" in arrays:
        raise ValueError(f"Checkpoint {path} has more state than this run; it does not match.")
    key = _wrap_like(arrays["key"], like_key) if _is_key(like_key) else arrays["key"]
    records = {
        name[len("history_") :]: values
        for name, values in arrays.items()
        if name.startswith("history_")
    }
    return jax.tree.unflatten(treedef, leaves), key, int(meta["done"]), records
