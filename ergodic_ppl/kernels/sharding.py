"""Chains split over devices: a ``jax.sharding.Mesh`` on the chain axis.

Every chain has its own key (``chain_keys``), so splitting the chains over devices changes
nothing about any chain: the compiled run is the same program, partitioned by XLA (GSPMD) along
the chain axis, and a sharded run gives the single-device result for the same key. The inputs
are built with ``jax.make_array_from_callback``, each process filling only the shards of its
own devices, so the same call works on one host (several local devices) and across hosts
started with ``jax.distributed.initialize`` (every process computes the same keys and starting
spins and keeps its slice; the outputs are then global arrays, see the README's recipe).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def chain_axis_name(mesh: Mesh, axis: str | None = None) -> str:
    """The mesh axis the chains are split over: ``axis``, or the mesh's only axis."""
    if not isinstance(mesh, Mesh):
        raise ValueError(
            f"`mesh` must be a jax.sharding.Mesh (e.g. Mesh(jax.devices(), ('chains',))); got "
            f"{type(mesh).__name__}."
        )
    if axis is None:
        if len(mesh.axis_names) != 1:
            raise ValueError(
                f"`mesh` has axes {mesh.axis_names}: name the chain axis with `chain_axis=`."
            )
        return mesh.axis_names[0]
    if axis not in mesh.axis_names:
        raise ValueError(f"`chain_axis`={axis!r} is not an axis of the mesh {mesh.axis_names}.")
    return axis


def shard_chains(mesh: Mesh, array, *, chain_axis: str | None = None, dim: int = 0):
    """``array`` as a global array whose dimension ``dim`` (the chains) is split over the mesh
    axis ``chain_axis`` and the rest replicated. Key arrays are sharded through their raw
    ``key_data``. Raises ``ValueError`` when the chains do not divide evenly."""
    name = chain_axis_name(mesh, chain_axis)
    is_key = jax.dtypes.issubdtype(getattr(array, "dtype", None), jax.dtypes.prng_key)
    impl = jax.random.key_impl(array) if is_key else None
    host = np.asarray(jax.random.key_data(array) if is_key else array)
    num_devices = mesh.shape[name]
    if host.shape[dim] % num_devices:
        raise ValueError(
            f"{host.shape[dim]} chains do not split evenly over the {num_devices} devices of "
            f"mesh axis {name!r}: use a multiple of {num_devices} for `num_chains`."
        )
    spec = [None] * host.ndim
    spec[dim] = name
    sharding = NamedSharding(mesh, PartitionSpec(*spec))
    out = jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
    return jax.random.wrap_key_data(out, impl=impl) if is_key else out
