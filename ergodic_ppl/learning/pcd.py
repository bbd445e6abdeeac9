"""One persistent-contrastive-divergence update as a kernel (docs/THEORY.md B.2, docs/DESIGN.md §4).

The BlackJAX shape: ``pcd = PCD(model, beta, optimizer, ...)`` holds what is static (the
model's structure and the choices), ``state = pcd.init(model0, spins, rng_key)`` builds a
:class:`PCDState`, and ``state, info = pcd.step(rng_key, state, batch)`` is one update:

1. the **positive phase** ``<dE/dtheta>_data`` over ``batch`` (data rows; for hidden spins that
   do not interact, an RBM, the exact conditional mean ``(v, tanh(beta h(v)))``; or a
   precomputed SpinModel-shaped ``<dE/dtheta>`` of all the data);
2. the **negative phase** over the persistent chains, ``grad = beta (<dE>_data - <dE>_chains)``
   (an RBM's chains contribute their hidden spins' conditional means given their visible
   spins: Rao-Blackwellised),
   optionally **centred** (:class:`Centring`, Melchior, Fischer & Wiskott 2016): the same
   gradient in the parametrisation ``E = -(v - mu)^T W (t - lam) - ...`` with ``mu`` the data's
   visible mean and ``lam`` a moving average of the data's hidden mean, mapped back to
   ``(W, a, b)`` — a linear map of the ordinary gradient (:func:`centre`) that removes the
   mean from the weight gradient and conditions it far better;
3. ``l2`` (ridge on couplings), the optional schedule's preconditioner
   (:class:`~.natural.NaturalGradient`), the ``optax`` transformation, and the optional
   minimal-dissipation rescaling (:class:`~.dissipation.MinDissipation`: every update's
   slow-driving excess work equals its rate, B.4);
4. the **work** of the update on every chain at its fixed state,
   ``w = beta (E_theta'(x) - E_theta(x)) = beta E_dtheta(x)`` (``E`` is linear in the weights),
   accumulated in ``state.work`` (the chains' energies move by ``w / beta``: no recomputation;
   an RBM's fused block step reads ``E_theta'(x)`` off its first sweep's fields instead);
5. ``sweeps`` Gibbs sweeps (or, with ``sampler=Tempering(...)``, tempering steps) of the
   chains under the new weights; and the same for the optional **spectator** chains, never
   used in the gradient, whose accumulated work is a trajectory AIS:
   ``log <exp(-W)> = Delta log Z`` (Jarzynski).

:class:`PCDInfo` carries the update's work, gradient norm, predicted excess work, the chains'
energies (the monitor's input) and the spectators' ``Delta log Z``.  ``learning.fit`` is a
loop over this step (batches drawn inside one compiled ``lax.scan``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..kernels import tempering
from ..kernels.conditionals import local_fields, sample_spins
from ..kernels.driver import run, split_keys
from ..kernels.gibbs import SpinGibbsState, cached_kernel
from ..kernels.gibbs import init as gibbs_init
from ..kernels.ladder import check_ladder, geometric_ladder
from ..spins import SpinModel
from .dissipation import MinDissipation, predicted_excess_work, update_work
from .gradients import energy_gradient
from .hidden import ClampedSweep, HiddenSpins
from .natural import NaturalGradient

__all__ = [
    "Centring", "Offsets", "PCD", "PCDInfo", "PCDState", "Tempering", "centre",
    "check_sampler", "check_schedule",
]  # fmt: skip

#: what ``schedule=`` takes besides None (the optimiser's own rates)
SCHEDULE_TYPES = (NaturalGradient, MinDissipation)
#: the string options these objects replaced, and what to write instead
_RENAMED = {
    "tempering": "sampler=learning.Tempering()",
    "natural_gradient": "schedule=learning.NaturalGradient(damping)",
    "min_dissipation": "schedule=learning.MinDissipation(rate)",
}


class Tempering(NamedTuple):
    """Parallel tempering for the persistent chains (``fit(..., sampler=Tempering(betas))``):
    each chain is a ladder of rungs ``betas`` (strictly decreasing, the first the model's
    ``beta``; None: 8 rungs geometric from ``beta`` to ``beta / 10``); a step sweeps every rung
    and proposes DEO swaps; the chain is the target rung."""

    betas: tuple | None = None

    def ladder(self, beta: float) -> tuple:
        """The rungs at target ``beta`` (checked; a ValueError naming the fix)."""
        if self.betas is None:
            return tuple(geometric_ladder(beta, beta / 10, 8).tolist())
        ladder = check_ladder(self.betas, "Tempering.betas")
        if not np.isclose(ladder[0], beta):
            raise ValueError(
                f"`Tempering.betas` must start at the target `beta`={beta}; got {ladder[0]}."
            )
        return tuple(ladder.tolist())


def _renamed(value) -> str:
    hint = _RENAMED.get(value) if isinstance(value, str) else None
    return f" (the string option {value!r} is now {hint})" if hint else ""


def check_sampler(sampler, beta: float) -> Tempering | None:
    """``sampler`` (None: Gibbs sweeps; or a :class:`Tempering`) with its ladder resolved at
    ``beta``, or a ValueError naming the fix."""
    if sampler is None:
        return None
    if isinstance(sampler, Tempering):
        return Tempering(sampler.ladder(beta))
    raise ValueError(
        "`sampler` must be None (heat-bath Gibbs sweeps) or learning.Tempering(betas); got "
        f"{sampler!r}{_renamed(sampler)}."
    )


def check_schedule(schedule):
    """``schedule`` (None, :class:`~.natural.NaturalGradient` or
    :class:`~.dissipation.MinDissipation`) with its values checked, or a ValueError."""
    if schedule is None:
        return None
    if isinstance(schedule, SCHEDULE_TYPES):
        return schedule.checked()
    raise ValueError(
        "`schedule` must be None (the optimiser's own rates), learning.NaturalGradient(damping) "
        f"or learning.MinDissipation(rate); got {schedule!r}{_renamed(schedule)}."
    )


class Centring(NamedTuple):
    """Centred gradients (Melchior, Fischer & Wiskott 2016): ``hidden_rate`` is the rate of the
    moving average of the data's hidden means (their 0.01); the visible offsets are the data's
    means, given to :meth:`PCD.init`."""

    hidden_rate: float = 0.01


class Offsets(NamedTuple):
    """Centring offsets in ±1 units: ``visible`` ``(n_visible,)``, ``hidden`` ``(n_hidden,)``
    (empty for a fully visible model)."""

    visible: jax.Array
    hidden: jax.Array


class PCDState(NamedTuple):
    """Everything one PCD update reads and writes (a pytree: scan it, checkpoint it).

    - **model** - the current weights (:class:`~ergodic_ppl.SpinModel`);
    - **opt_state** - the optax state;
    - **chains** - the persistent chains (``SpinGibbsState`` batch ``(C,)``, or a
      ``TemperingState``), **chain_keys** ``(C,)`` their keys, **work** ``(C,)`` their
      accumulated work;
    - **tau** - the relaxation factor of the friction tensor (:mod:`.dissipation`);
    - **offsets** - :class:`Offsets` (centred gradients) or None;
    - **spectators**, **spectator_keys**, **spectator_work** - the Jarzynski chains, or None;
    - **hidden_field** - an RBM's hidden fields ``b + W^T v`` of the chains ``(n_hidden, C)``
      under ``model`` (the block sweep's by-product, reused by the next negative phase), or
      None.
    """

    model: SpinModel
    opt_state: Any
    chains: Any
    chain_keys: jax.Array
    work: jax.Array
    tau: jax.Array
    offsets: Offsets | None = None
    spectators: SpinGibbsState | None = None
    spectator_keys: jax.Array | None = None
    spectator_work: jax.Array | None = None
    hidden_field: jax.Array | None = None


class PCDInfo(NamedTuple):
    """What one update did: ``work`` (mean over the learning chains), ``total_work`` (their
    mean accumulated work), ``grad_norm``, ``predicted_excess_work`` (``tau Var(w)``),
    ``step_scale`` (min-dissipation rescaling, else 1), ``chain_energy`` ``(C,)`` (the target
    rung after the sweeps: the monitor's input), ``positive_states`` (the batch's full states
    after the clamped sweeps when hidden spins interact, else None), and with spectators
    ``delta_log_z`` (Jarzynski), its ``delta_log_z_stderr`` and ``jarzynski_ess``."""

    work: jax.Array
    total_work: jax.Array
    grad_norm: jax.Array
    predicted_excess_work: jax.Array
    step_scale: jax.Array
    chain_energy: jax.Array
    positive_states: jax.Array | None = None
    delta_log_z: jax.Array | None = None
    delta_log_z_stderr: jax.Array | None = None
    jarzynski_ess: jax.Array | None = None


def centre(grad: SpinModel, offsets: Offsets) -> SpinModel:
    """The centred gradient, as a linear map of the ordinary one ``g`` (module docstring).

    Bipartite (``W`` ``(n_v, n_h)``, visible offsets ``mu``, hidden ``lam``):
    ``G_W = g_W - mu g_b^T - g_a lam^T``, ``G_a = g_a - G_W lam``, ``G_b = g_b - G_W^T mu``.
    Dense pairwise (offsets ``mu`` of all spins): ``G_J = g_J - mu g_h^T - g_h mu^T`` off the
    diagonal, ``G_h = g_h - G_J mu``.  With zero offsets ``G = g``.
    """
    st = grad._structure
    mu, lam = offsets.visible, offsets.hidden
    g_fields, g_pairs = grad.fields, grad.pair_weights
    if st.bipartite:
        nv = st.n_visible
        g_a, g_b = g_fields[:nv], g_fields[nv:]
        pairs = g_pairs - jnp.outer(mu, g_b) - jnp.outer(g_a, lam)
        fields = jnp.concatenate([g_a - pairs @ lam, g_b - pairs.T @ mu])
    else:  # dense (checked by PCD)
        off_diagonal = 1.0 - jnp.eye(g_pairs.shape[0], dtype=g_pairs.dtype)
        pairs = g_pairs - (jnp.outer(mu, g_fields) + jnp.outer(g_fields, mu)) * off_diagonal
        fields = g_fields - pairs @ mu
    return SpinModel.tree_unflatten(st, (fields, pairs, grad.kbody_weights))


def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(tree)))


class PCD:
    """The PCD update kernel (module docstring).

    Parameters
    ----------
    model : SpinModel
        Lends its structure and dtype (weights are in the state).
    beta : float
    optimizer : optax.GradientTransformation
    visible : HiddenSpins or None
        The visible/hidden split (None: fully visible).
    sweeps : int
        Sweeps of the chains (and of the clamped hidden spins) per update.
    sampler : Tempering, optional
        None: heat-bath Gibbs sweeps; :class:`Tempering`: the chains are parallel-tempering
        ladders.
    centring : Centring, optional
        Centred gradients (bipartite or dense models).
    mask : SpinModel, optional
        1 for trained weights, 0 for frozen ones.
    l2 : float
    schedule : NaturalGradient or MinDissipation, optional
        Fisher preconditioning, or the min-dissipation rescaling of every update.
    """

    def __init__(self, model: SpinModel, beta: float, optimizer, *, visible=None, sweeps=1,
                 sampler=None, centring=None, mask=None, l2=0.0, schedule=None):  # fmt: skip
        self.beta, self.optimizer, self.sweeps = float(beta), optimizer, int(sweeps)
        self.split = visible if visible is None or isinstance(visible, HiddenSpins) else (
            HiddenSpins(model, visible)
        )  # fmt: skip
        sampler, schedule = check_sampler(sampler, self.beta), check_schedule(schedule)
        self.ladder = None if sampler is None else sampler.betas
        self.centring, self.mask, self.l2 = centring, mask, float(l2)
        self.natural = (
            schedule.bind(model, self.beta) if isinstance(schedule, NaturalGradient) else None
        )
        self.dissipation_rate = schedule.rate if isinstance(schedule, MinDissipation) else None
        if centring is not None and not (model.is_bipartite or model.is_dense):
            raise ValueError(
                "`centring` needs an RBM (SpinModel.rbm) or a dense pairwise model; this is "
                f"{model!r}. Drop `centring` for this model."
            )
        if (
            centring is not None
            and model.is_bipartite
            and not (self.split is not None and self.split.is_rbm_layer(model))
        ):
            raise ValueError(
                "`centring` of a bipartite model needs its visible layer as the visible spins: "
                "visible=range(model.n_visible)."
            )
        # an RBM on its visible layer sampled by heat-bath block sweeps: the fused path
        # (:meth:`_block_sweep`) that reads the work off the sweep's own fields
        self.block = bool(
            self.split is not None and self.split.is_rbm_layer(model) and self.ladder is None
            and self.dissipation_rate is None and self.natural is None
        )  # fmt: skip
        self.kernel = cached_kernel(model)
        self.tempering_kernel = tempering.build_kernel(model) if self.ladder is not None else None
        split = self.split
        self.clamped_sweep = (
            None if split is None or split.independent else ClampedSweep(model, split)
        )

    # -- init ------------------------------------------------------------------------------
    def init(self, model0: SpinModel, chain_spins, chain_keys, *, visible_mean=None,
             spectator_spins=None, spectator_keys=None) -> PCDState:  # fmt: skip
        """The state at ``model0``: chains at ``chain_spins`` ``(C, n)`` (``(C, R, n)`` rung
        starts with a ladder) with per-chain keys ``chain_keys``; ``visible_mean`` (the data's
        mean visible spins) for centring; optional spectators."""
        dtype = model0.fields.dtype
        if self.ladder is not None:
            chains = tempering.init(model0, chain_spins, np.asarray(self.ladder))
        else:
            chains = gibbs_init(model0, chain_spins)
        offsets = None
        if self.centring is not None:
            if visible_mean is None:
                raise ValueError(
                    "`visible_mean` (the data's mean visible spins) is needed to centre."
                )
            mu = jnp.asarray(visible_mean, dtype)
            num_hidden = 0 if self.split is None else self.split.num_hidden
            offsets = Offsets(mu, jnp.zeros(num_hidden, dtype))
        spectators = None
        if spectator_spins is not None:
            spectators = gibbs_init(model0, spectator_spins)
        return self.refresh(PCDState(
            model=model0, opt_state=self.optimizer.init(model0), chains=chains,
            chain_keys=chain_keys, work=jnp.zeros(len(chain_keys), dtype),
            tau=jnp.asarray(1.0, dtype), offsets=offsets, spectators=spectators,
            spectator_keys=spectator_keys,
            spectator_work=None if spectators is None else jnp.zeros(len(spectator_keys), dtype),
        ))  # fmt: skip

    def refresh(self, state: PCDState) -> PCDState:
        """``state`` with its cached hidden fields recomputed from its chains and model (after
        the chains moved by other means, e.g. warm-up sweeps); unchanged off the fused path."""
        if not self.block:
            return state
        hidden = self.kernel.classes[1]
        return state._replace(
            hidden_field=local_fields(state.model, state.chains.site_spins, hidden)
        )

    # -- pieces ----------------------------------------------------------------------------
    def sweep(self, model, state, keys, count):
        """``count`` sweeps (tempering steps) of chains ``state`` with per-chain ``keys``."""
        if isinstance(state, tempering.TemperingState):
            step = lambda k, s: self.tempering_kernel(k, s, model)  # noqa: E731
        else:
            step = lambda k, s: self.kernel(k, s, model, self.beta)  # noqa: E731
        out = run(step, state, keys, num_draws=1, num_warmup=count - 1, observers={})
        return out.state, out.rng_key

    @staticmethod
    def target(chains):
        """Site-major spins ``(n, C)`` and energies of the chains' target rung."""
        if isinstance(chains, tempering.TemperingState):
            return chains.rungs.site_spins[..., 0], chains.rungs.energy[..., 0]
        return chains.site_spins, chains.energy

    def positive_phase(self, rng_key, model, batch):
        """``(<dE/dtheta>_data, hidden means or None, swept states or None)`` (module
        docstring, step 1)."""
        if isinstance(batch, SpinModel):  # precomputed over all the data
            return batch, None, None
        split = self.split
        if split is None:
            return energy_gradient(model, batch), None, None
        if split.independent:
            full = split.mean_states(model, self.beta, batch)
            return energy_gradient(model, full), jnp.mean(full[:, split.hidden], 0), None
        full = self.clamped_sweep(rng_key, batch, model, self.beta, self.sweeps)
        return energy_gradient(model, full), None, full

    def negative_phase(self, model, spins):
        """``<dE/dtheta>`` over the chains' states ``spins`` ``(C, n)``; for hidden spins that
        do not interact (an RBM) with each chain's hidden spins replaced by their conditional
        means given its visible ones (Rao-Blackwell: the same expectation, less noise, since
        ``dE/dtheta`` is linear in the hidden spins)."""
        split = self.split
        if split is not None and split.independent:
            spins = split.mean_states(model, self.beta, spins[:, split.visible])
        return energy_gradient(model, spins)

    def _offsets(self, offsets, hidden_mean):
        if offsets is None or hidden_mean is None or not offsets.hidden.size:
            return offsets
        rate = self.centring.hidden_rate
        return offsets._replace(hidden=(1 - rate) * offsets.hidden + rate * hidden_mean)

    def apply(self, state, grad, spins, weights=None):
        """``(model', opt_state', grad_norm, w, q, scale)``: the optimiser step and the
        per-state work ``w = beta E_dtheta(spins)`` of the update (module docstring, 3-4);
        ``w`` and ``q`` None when ``spins`` is None (the fused path books the work itself)."""
        import optax

        model = state.model
        if self.l2:
            pairs = self.l2 * model.pair_weights
            kbody = tuple(self.l2 * w for w in model.kbody_weights)
            ridge = SpinModel.tree_unflatten(model._structure,
                                             (jnp.zeros_like(model.fields), pairs, kbody))  # fmt: skip
            grad = jax.tree.map(jnp.add, grad, ridge)
        if self.natural is not None:
            grad = self.natural(grad, model, spins, weights)
        if self.mask is not None:
            grad = jax.tree.map(jnp.multiply, grad, self.mask)
        updates, opt_state = self.optimizer.update(grad, state.opt_state, model)
        if self.mask is not None:
            updates = jax.tree.map(jnp.multiply, updates, self.mask)
        if spins is None:
            one = jnp.ones((), model.fields.dtype)
            return optax.apply_updates(model, updates), opt_state, _norm(grad), None, None, one
        w = update_work(model, updates, spins, self.beta)
        q = predicted_excess_work(w, state.tau, weights)
        scale = jnp.ones((), w.dtype)
        if self.dissipation_rate is not None:
            scale = jnp.sqrt(self.dissipation_rate / jnp.maximum(q, 1e-30))
            updates = jax.tree.map(lambda u: scale * u, updates)
            w, q = scale * w, scale**2 * q
        return optax.apply_updates(model, updates), opt_state, _norm(grad), w, q, scale

    # -- the update ------------------------------------------------------------------------
    def step(self, rng_key, state: PCDState, batch) -> tuple[PCDState, PCDInfo]:
        """One PCD update (module docstring): ``batch`` is data rows ``(B, n_visible)`` (±1
        spins in the model's dtype), the full states ``(B, n)`` of clamped rows when hidden
        spins interact, or a precomputed SpinModel-shaped ``<dE/dtheta>_data``."""
        if self.block:
            return self._block_step(rng_key, state, batch)
        beta = self.beta
        site, e_old = self.target(state.chains)
        spins = jnp.moveaxis(site, 0, -1)  # (C, n)
        negative = self.negative_phase(state.model, spins)
        grad, offsets, swept = self._gradient(rng_key, state, batch, negative)
        model, opt_state, norm, w, q, scale = self.apply(state, grad, spins)
        chains = self._rebook(model, state.chains, e_old + w / beta)
        chains, chain_keys = self.sweep(model, chains, state.chain_keys, self.sweeps)
        work = state.work + w
        info = dict(
            work=jnp.mean(w), total_work=jnp.mean(work), grad_norm=norm,
            predicted_excess_work=q, step_scale=scale, chain_energy=self.target(chains)[1],
            positive_states=swept,
        )  # fmt: skip
        new = state._replace(model=model, opt_state=opt_state, chains=chains,
                             chain_keys=chain_keys, work=work, offsets=offsets)  # fmt: skip
        if state.spectators is not None:
            new, jarzynski = self._spectators(new, state, model)
            info.update(jarzynski)
        return new, PCDInfo(**info)

    def _gradient(self, rng_key, state: PCDState, batch, negative):
        """``(grad, offsets', swept states or None)``: ``beta (<dE>_data - negative)`` over
        ``batch``, centred with the offsets updated by the batch's hidden means."""
        k_pos = jax.random.split(jax.random.split(rng_key)[0])[1]
        positive, hidden_mean, swept = self.positive_phase(k_pos, state.model, batch)
        grad = jax.tree.map(lambda a, b: self.beta * (a - b), positive, negative)
        offsets = self._offsets(state.offsets, hidden_mean)
        if offsets is not None:
            grad = centre(grad, offsets)
        return grad, offsets, swept

    def _block_step(self, rng_key, state: PCDState, batch) -> tuple[PCDState, PCDInfo]:
        """:meth:`step` for an RBM on its visible layer, fused: the negative phase reads the
        hidden means off the cached fields ``tanh(beta (b + W^T v))``, and the first block
        sweep's visible fields ``a' + W' t`` under the new weights give the chains' energies
        ``E'(x)`` before they move, hence the work ``w = beta (E'(x) - E(x))`` (module
        docstring, step 4) without a product of its own: three matrix products on the chains
        per update instead of five. The same uniforms as the chromatic kernel's sweep."""
        beta, nv = self.beta, self.split.visible.size
        site, e_old = state.chains.site_spins, state.chains.energy
        means = jnp.tanh(beta * state.hidden_field)
        negative = energy_gradient(state.model, jnp.concatenate([site[:nv], means]).T)
        grad, offsets, _ = self._gradient(rng_key, state, batch, negative)
        model, opt_state, norm, _, _, scale = self.apply(state, grad, None)
        keys, step_key = split_keys(state.chain_keys)
        (site, energy, field), e_moved = self._block_sweep(model, step_key, (site, None, None))
        w = beta * (e_moved - e_old)
        chains = (site, energy, field)
        if self.sweeps > 1:
            sweep = lambda k, c: (self._block_sweep(model, k, c)[0], ())  # noqa: E731
            out = run(sweep, chains, keys, num_draws=1, num_warmup=self.sweeps - 2,
                      observers={})  # fmt: skip
            chains, keys = out.state, out.rng_key
        site, energy, field = chains
        work = state.work + w
        info = dict(
            work=jnp.mean(w), total_work=jnp.mean(work), grad_norm=norm,
            predicted_excess_work=predicted_excess_work(w, state.tau), step_scale=scale,
            chain_energy=energy, positive_states=None,
        )  # fmt: skip
        new = state._replace(model=model, opt_state=opt_state,
                             chains=SpinGibbsState(site, energy), chain_keys=keys, work=work,
                             offsets=offsets, hidden_field=field)  # fmt: skip
        if state.spectators is not None:
            new, jarzynski = self._spectators(new, state, model)
            info.update(jarzynski)
        return new, PCDInfo(**info)

    def _block_sweep(self, model, key, chains):
        """One heat-bath sweep of site-major RBM chains ``(spins (n, C), _, _)``: the visible
        layer given the hidden one, then the hidden layer, each one matrix product through
        the chromatic kernel's colour classes, fields and uniforms; returns
        ``((spins', E(spins'), b + W^T v'), E(spins))`` (energies under ``model``)."""
        site = chains[0]
        visible, hidden = self.kernel.classes
        a, b = model.fields[visible], model.fields[hidden]
        u, _ = self.kernel._uniforms(key, site.shape[1], site.dtype)
        v, t = site[: len(visible)], site[len(visible) :]
        visible_field = local_fields(model, site, visible)  # a + W t
        e_before = -(jnp.sum(v * visible_field, 0) + b @ t)
        v = sample_spins("heat_bath", self.beta, v, visible_field, u[0, : len(visible)])
        site = jnp.concatenate([v, t])
        hidden_field = local_fields(model, site, hidden)  # b + W^T v
        t = sample_spins("heat_bath", self.beta, t, hidden_field, u[1, : len(hidden)])
        energy = -(a @ v + jnp.sum(t * hidden_field, 0))
        return (jnp.concatenate([v, t]), energy, hidden_field), e_before

    def _rebook(self, model, chains, target_energy):
        """``chains`` with energies under ``model``: the target rung's from the work; other
        tempering rungs recomputed."""
        if isinstance(chains, tempering.TemperingState):
            rungs = chains.rungs
            e = model._energy(jnp.moveaxis(rungs.site_spins, 0, -1))
            return chains._replace(rungs=SpinGibbsState(rungs.site_spins, e))
        return SpinGibbsState(chains.site_spins, target_energy)

    def _spectators(self, new: PCDState, old: PCDState, model):
        spins = jnp.moveaxis(old.spectators.site_spins, 0, -1)
        delta_e = model._energy(spins) - old.spectators.energy
        total = old.spectator_work + self.beta * delta_e
        rebooked = SpinGibbsState(old.spectators.site_spins, old.spectators.energy + delta_e)
        spectators, keys = self.sweep(model, rebooked, old.spectator_keys, self.sweeps)
        n = total.shape[0]
        log_w = -total
        w = jnp.exp(log_w - jnp.max(log_w))
        jarzynski = dict(
            delta_log_z=logsumexp(log_w) - jnp.log(n),
            delta_log_z_stderr=jnp.std(w / jnp.mean(w)) / jnp.sqrt(n),
            jarzynski_ess=jnp.sum(w) ** 2 / jnp.sum(w**2),
        )
        new = new._replace(spectators=spectators, spectator_keys=keys, spectator_work=total)
        return new, jarzynski
