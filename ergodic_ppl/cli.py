"""The ``ergodic-ppl`` command.

``ergodic-ppl sample [MODEL_FILE] [--out DIR]`` samples a NumPyro spin model with several
``SpinGibbs`` chains and writes a report folder: ``summary.json`` (per-draw energy and
magnetisation statistics, ArviZ R-hat/ESS of the energy, throughput) and ``idata.nc`` (the
ArviZ ``InferenceData``). ``MODEL_FILE`` is a Python file defining a callable ``model`` (a NumPyro
model whose latent sites are binary) and optionally a dict ``model_kwargs``. With no file, an
embedded default runs: a 16×16 periodic Ising ferromagnet at beta = 0.3 (disordered) and
beta = 0.6 (ordered), where the ordered run's chains sit in different magnetisation sectors.

Running ``ergodic-ppl`` with no arguments is ``ergodic-ppl sample``.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import time
from pathlib import Path

DEFAULT_BETAS = (0.3, 0.6)


def _default_models():
    import numpyro

    from .distributions import BoltzmannSpins
    from .spins import SpinModel

    lattice = SpinModel.ising_2d(16, 16, coupling=1.0)

    def ising(beta):
        numpyro.sample("s", BoltzmannSpins(lattice, beta=beta))

    return [(f"ising16x16_beta{beta}", ising, {"beta": beta}) for beta in DEFAULT_BETAS]


def _load_model_file(path: Path):
    if not path.is_file():
        raise SystemExit(f"ergodic-ppl: error: model file {str(path)!r} does not exist.")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # noqa: BLE001 - report any failure of the user's file
        raise SystemExit(
            f"ergodic-ppl: error: running {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    model = namespace.get("model")
    if not callable(model):
        raise SystemExit(
            f"ergodic-ppl: error: {str(path)!r} must define a callable `model` "
            "(a NumPyro model with binary latent sites)."
        )
    kwargs = namespace.get("model_kwargs", {})
    if not isinstance(kwargs, dict):
        raise SystemExit(f"ergodic-ppl: error: `model_kwargs` in {str(path)!r} must be a dict.")
    return [(path.stem, model, kwargs)]


def _sample_one(name, model, kwargs, args, out: Path) -> dict:
    import arviz as az
    import jax
    import numpy as np
    from numpyro.infer import MCMC

    from .kernels.gibbs import SpinGibbs

    mcmc = MCMC(
        SpinGibbs(model, scan=args.scan),
        num_warmup=args.warmup,
        num_samples=args.draws,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=args.progress,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.key(args.seed), **kwargs)
    jax.block_until_ready(mcmc.get_samples())
    seconds = time.perf_counter() - start
    idata = az.from_numpyro(mcmc)
    energy = idata.sample_stats["energy"].values
    mag = idata.sample_stats["magnetization"].values
    n_spins = sum(int(np.prod(v.shape[2:])) for v in idata.posterior.data_vars.values())
    summary = {
        "model": name,
        "kwargs": {k: (float(v) if np.ndim(v) == 0 else "array") for k, v in kwargs.items()},
        "chains": args.chains,
        "draws": args.draws,
        "warmup": args.warmup,
        "n_spins": n_spins,
        "seconds_including_compile": seconds,
        "spin_updates_per_second": args.chains * (args.draws + args.warmup) * n_spins / seconds,
        "energy_per_spin_mean": float(energy.mean() / n_spins),
        "energy_rhat": float(az.rhat(energy)),
        "energy_ess_bulk": float(az.ess(energy)),
        "magnetization_rhat": float(az.rhat(mag)),
        "magnetization_per_chain": [round(float(v), 4) for v in mag.mean(1)],
        "abs_magnetization_mean": float(np.abs(mag).mean()),
    }
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(folder / "idata.nc"))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["sample", *argv]
    parser = argparse.ArgumentParser(
        prog="ergodic-ppl", description="Sample binary-spin NumPyro models with SpinGibbs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="sample a model and write a report folder")
    sample.add_argument("model_file", nargs="?", type=Path, help="Python file defining `model`")
    sample.add_argument("--out", type=Path, default=Path("ergodic-ppl-report"))
    sample.add_argument("--chains", type=int, default=8)
    sample.add_argument("--draws", type=int, default=1000)
    sample.add_argument("--warmup", type=int, default=200)
    sample.add_argument(
        "--scan", default="chromatic", choices=("chromatic", "sequential", "random")
    )
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--progress", action="store_true", help="show NumPyro progress bars")
    args = parser.parse_args(argv)
    for name in ("chains", "draws"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be non-negative")

    runs = _load_model_file(args.model_file) if args.model_file else _default_models()
    for name, model, kwargs in runs:
        try:
            summary = _sample_one(name, model, kwargs, args, args.out)
        except ValueError as exc:
            print(f"ergodic-ppl: error: {exc}", file=sys.stderr)
            return 2
        print(
            f"{name}: E/n = {summary['energy_per_spin_mean']:+.4f}, "
            f"<|m|> = {summary['abs_magnetization_mean']:.3f}, "
            f"R-hat(E) = {summary['energy_rhat']:.3f}, ESS(E) = {summary['energy_ess_bulk']:.0f}, "
            f"R-hat(m) = {summary['magnetization_rhat']:.2f}, chain m = "
            + " ".join(f"{v:+.2f}" for v in summary["magnetization_per_chain"])
        )
    print(f"report written to {args.out}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
