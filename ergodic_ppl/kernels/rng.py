"""The sweeps' random stream: uniforms from a fast counter-based generator (DESIGN.md section 4).

Exact heat-bath Gibbs draws one uniform per spin update, so on a CPU the generator bounds the
sweep (``benchmarks/README.md``, ``bench_gibbs.py``). JAX's default ``threefry2x32`` produces
about 2e8 uniforms/s on the 2-core reference machine; its ``philox4x32`` (Random123's
Philox4x32-10, Salmon et al. 2011) about 7e8, with one key per chain under ``vmap`` as well.

**Keys.** Every kernel still takes the chain's key in whatever implementation the user made it
(``jax.random.key(0)``, ``PRNGKey``, ``key(0, impl=...)``): the driver splits it per step as
before, so chains, sharding and ``MCMC`` agree exactly as they did. Only the uniforms of a sweep
come from a key of ``rng_impl`` *derived* from the step key (:func:`stream_key`):

- the step key itself when it already is of implementation ``rng_impl``;
- otherwise ``wrap_key_data(bits(step_key, words), impl=rng_impl)``: the key words are drawn
  from the step key with the user's own generator (one block per chain and step, negligible
  next to the ``n`` uniforms of a sweep).

``rng_impl=None`` draws the uniforms from the step key itself: the stream of the package before
this module (``threefry2x32`` for default keys), kept selectable for reproducing old runs.

**Why philox4x32 and not philox2x32.** ``philox2x32`` is faster still (about 9e8/s) but its key
is one 32-bit word. Split repeatedly, a 32-bit key enters a cycle after about 2^17 steps
(measured: the key of ``split(key)[0]`` repeats with period 95 439 after 126 262 splits), and
derived sweep keys collide after about 2^16 draws. ``philox4x32`` has a 64-bit key, so neither
happens in any run this package makes. ``philox2x32`` stays selectable through ``rng_impl``.

**JAX before 0.12.** Philox multiplies with ``lax.mulhi``, which JAX 0.10 lowers to
``chlo.mulhi``; in a sharded program (``pmap``, ``shard_map``, ``jit`` over a mesh) that op fails
to legalise ("Unable to convert MHLO to StableHLO"). JAX 0.12.1 lowers it fine. On older JAX,
:func:`_use_portable_mulhi` registers JAX's own portable lowering of ``mulhi`` (``_mulhi_impl``,
the one JAX uses for jaxlibs without ``chlo.mulhi``): the same bits, at the same speed
(measured 7.0e8 against 6.0e8 uniforms/s), in every kind of program.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["DEFAULT_RNG_IMPL", "check_rng_impl", "stream_key", "uniform"]

#: the generator of the sweeps' uniforms (module docstring)
DEFAULT_RNG_IMPL = "philox4x32"


def _use_portable_mulhi() -> bool:
    """On JAX < 0.12, lower ``lax.mulhi`` with JAX's portable rule (module docstring)."""
    if jax.__version_info__ >= (0, 12):
        return False
    try:
        from jax._src.interpreters import mlir
        from jax._src.lax import lax as lax_internal

        rule = mlir.lower_fun(lax_internal._mulhi_impl, multiple_results=False)
        mlir.register_lowering(lax_internal.mulhi_p, rule)
    except (ImportError, AttributeError):  # a JAX without either: nothing to work around
        return False
    return True


_use_portable_mulhi()


@functools.cache
def _key_words(rng_impl: str) -> int:
    return int(jax.random.key_data(jax.random.key(0, impl=rng_impl)).size)


def check_rng_impl(rng_impl) -> str | None:
    """``rng_impl`` if it names a JAX PRNG implementation (or is ``None``); else a
    ``ValueError`` naming the argument."""
    if rng_impl is None:
        return None
    try:
        _key_words(rng_impl)
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"`rng_impl` must name a JAX PRNG implementation such as {DEFAULT_RNG_IMPL!r} "
            f"(the default), 'philox2x32' or 'threefry2x32', or be None (uniforms from the key "
            f"itself); got {rng_impl!r} ({err})."
        ) from None
    return rng_impl


def _impl_name(rng_key) -> str:
    if jax.dtypes.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(rng_key))
    return str(jax.config.jax_default_prng_impl)  # raw uint32 keys: the default implementation


def stream_key(rng_key, rng_impl: str | None = DEFAULT_RNG_IMPL):
    """The key of implementation ``rng_impl`` a sweep draws its uniforms from, derived from one
    (unbatched) ``rng_key`` of any implementation (module docstring)."""
    if rng_impl is None or _impl_name(rng_key) == rng_impl:
        return rng_key
    data = jax.random.bits(rng_key, (_key_words(rng_impl),), jnp.uint32)
    return jax.random.wrap_key_data(data, impl=rng_impl)


def uniform(rng_key, shape, dtype=float, rng_impl: str | None = DEFAULT_RNG_IMPL) -> jax.Array:
    """``jax.random.uniform`` on ``[0, 1)`` from :func:`stream_key` ``(rng_key, rng_impl)``."""
    return jax.random.uniform(stream_key(rng_key, rng_impl), shape, dtype)
