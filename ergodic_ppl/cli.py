"""The ``ergodic-ppl`` command.

``ergodic-ppl analyze [MODEL_FILE] [--out DIR]`` (the default command) samples a NumPyro spin
model with several ``SpinGibbs`` chains, diagnoses ergodicity (``ep.diagnose``) and writes the
report folder of :mod:`ergodic_ppl.report` (``summary.json``, ``report.txt``, a self-contained
``report.html``, figures, ``basin_graph.json``, ``idata.nc``).  This module only parses
arguments and calls those; the report's format and its ``beta`` are theirs.  With no file it runs an
embedded default that breaks ergodicity: a Hopfield network of 64 spins storing 3 random
patterns, at beta = 2 (below its retrieval temperature), where chains from random starts stay
in different pattern basins.  With ``--tempering`` the basins the chains found are also weighed by
parallel tempering (``ep.basins.tempered_free_energies``): per-basin free energies with error
bars, which chains stuck in their basins cannot give, in ``summary.json`` and the report.

``ergodic-ppl sample [MODEL_FILE]`` only samples: ``summary.json`` (energy and magnetization
statistics, R-hat/ESS with constant chains handled as in ``ep.diagnose``, throughput) and
``idata.nc``; its default is a 16x16 periodic Ising
ferromagnet at beta = 0.3 and 0.6.

``ergodic-ppl train [DATA] [--model pairwise|rbm:H|FILE.py] [--out DIR] [--resume]`` runs the
whole loop on binary data (:mod:`ergodic_ppl.pipeline`): persistent-chain training with a
checkpoint, held-out log-likelihood, diagnosis of the final chains, basin graph, per-basin
mixture and samples, into a report folder.  ``DATA`` is a ``.npy``/``.csv``/``.txt`` file of
0/1 bits or ±1 spins (``ep.datasets.load``: bit 0 is spin +1, bit 1 spin -1, as
``ep.bits_to_spins``); without it, scikit-learn's binarised digits.  A
bad data file, an existing checkpoint without ``--resume`` or a bad model exit with status 2;
an interrupted run (Ctrl-C) exits with 130 and is continued by the same command with
``--resume``.

``MODEL_FILE`` is a Python file defining a callable ``model`` (a NumPyro model whose latent
sites are binary) and optionally a dict ``model_kwargs`` and, for ``analyze``, an array
``patterns`` (P, n) of ±1 patterns whose overlaps are diagnosed.  Errors in the file, a
``model_kwargs`` key that is no parameter of ``model``, a model that raises when sampled and an
``--out`` folder that cannot be written (checked before sampling) exit with status 2 and a
one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import runpy
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .report import check_writable, json_document, provenance, tempering_lines

DEFAULT_BETAS = (0.3, 0.6)
HOPFIELD_N, HOPFIELD_PATTERNS, HOPFIELD_BETA = 64, 3, 2.0


class ModelFileError(Exception):
    """A model file that cannot be used; reported on stderr with exit status 2."""


def _default_hopfield():
    import numpyro

    from .distributions import BoltzmannSpins
    from .spins import SpinModel

    rng = np.random.default_rng(0)
    patterns = rng.choice(np.array([-1, 1], np.int8), size=(HOPFIELD_PATTERNS, HOPFIELD_N))
    network = SpinModel.hopfield(patterns)

    def hopfield(beta):
        numpyro.sample("s", BoltzmannSpins(network, beta=beta))

    name = f"hopfield{HOPFIELD_N}_p{HOPFIELD_PATTERNS}_beta{HOPFIELD_BETA}"
    return [(name, hopfield, {"beta": HOPFIELD_BETA}, patterns)]


def _default_models():
    import numpyro

    from .distributions import BoltzmannSpins
    from .spins import SpinModel

    lattice = SpinModel.ising_2d(16, 16, coupling=1.0)

    def ising(beta):
        numpyro.sample("s", BoltzmannSpins(lattice, beta=beta))

    return [(f"ising16x16_beta{beta}", ising, {"beta": beta}, None) for beta in DEFAULT_BETAS]


def _load_model_file(path: Path):
    """``[(name, model, model_kwargs, patterns or None)]`` from a user's model file."""
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
    _check_kwargs(model, kwargs, repr(str(path)))
    return [(path.stem, model, kwargs, namespace.get("patterns"))]


def _check_kwargs(model, kwargs, where: str) -> None:
    """Every ``model_kwargs`` key must be a parameter of ``model`` (checked before sampling)."""
    try:
        inspect.signature(model).bind_partial(**kwargs)
    except TypeError as exc:
        raise ModelFileError(
            f"`model_kwargs` in {where} do not fit `model{inspect.signature(model)}`: {exc}."
        ) from exc
    except ValueError:  # a callable without an inspectable signature: let the run tell
        pass


def _run_mcmc(name, model, kwargs, args):
    """Sample ``model(**kwargs)`` with ``SpinGibbs`` chains as the options say; (mcmc, seconds).

    Any failure of the user's model (or a model the kernel cannot sample) becomes a
    :class:`ModelFileError` with a one-line message.
    """
    import jax
    from numpyro.infer import MCMC

    from .kernels import SpinGibbs

    start = time.perf_counter()
    try:
        mcmc = MCMC(
            SpinGibbs(model, scan=args.scan),
            num_warmup=args.warmup,
            num_samples=args.draws,
            num_chains=args.chains,
            chain_method="vectorized",
            progress_bar=args.progress,
        )
        mcmc.run(jax.random.key(args.seed), extra_fields=("energy", "magnetization"), **kwargs)
        jax.block_until_ready(mcmc.get_samples())
    except Exception as exc:  # noqa: BLE001 - any failure of the user's model is reported
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(f"sampling {name!r} failed: {type(exc).__name__}: {first}") from exc
    return mcmc, time.perf_counter() - start


def _kwargs_summary(kwargs) -> dict:
    return {k: (float(v) if np.ndim(v) == 0 else "array") for k, v in kwargs.items()}


def _settings(kwargs, args) -> dict:
    return {
        "kwargs": _kwargs_summary(kwargs),
        "chains": args.chains,
        "draws": args.draws,
        "warmup": args.warmup,
        "seed": args.seed,
    }


def _sample_status(*rhats) -> str:
    """A word for the largest R-hat of a ``sample`` run (``ep.diagnostics.RHAT_THRESHOLD``)."""
    from .diagnostics import RHAT_THRESHOLD

    if not all(np.isfinite(rhats)):
        return "R-hat undefined (a constant chain: see notes)"
    worst = max(rhats)
    if worst <= RHAT_THRESHOLD:
        return f"chains agree (R-hat <= {RHAT_THRESHOLD})"
    return (
        f"chains DISAGREE (R-hat {worst:.2f} > {RHAT_THRESHOLD}): not converged; run longer, "
        "or `ergodic-ppl analyze` to diagnose broken ergodicity"
    )


def _sample_one(name, model, kwargs, args, out: Path) -> dict:
    from . import arviz_compat
    from .diagnostics.rhat import convergence

    mcmc, seconds = _run_mcmc(name, model, kwargs, args)
    idata = arviz_compat.from_numpyro(mcmc)
    stats = arviz_compat.get_group(idata, "sample_stats")
    energy, mag = stats["energy"].values, stats["magnetization"].values
    posterior = arviz_compat.get_group(idata, "posterior")
    n_spins = sum(int(np.prod(v.shape[2:])) for v in posterior.data_vars.values())
    # constant-chain-aware R-hat: a frozen chain gives inf or NaN with a note, never garbage
    e_rhat, e_ess, _, e_note = convergence(energy)
    m_rhat, _, _, m_note = convergence(mag)
    summary = {
        "provenance": provenance(command=args.command_line, seed=args.seed),
        "model": name,
        "status": _sample_status(e_rhat, m_rhat),
        **_settings(kwargs, args),
        "n_spins": n_spins,
        "seconds_including_compile": seconds,
        "spin_updates_per_second": args.chains * (args.draws + args.warmup) * n_spins / seconds,
        "energy_per_spin_mean": float(energy.mean() / n_spins),
        "energy_rhat": e_rhat,
        "energy_ess_bulk": e_ess,
        "magnetization_rhat": m_rhat,
        "notes": {k: v for k, v in (("energy", e_note), ("magnetization", m_note)) if v},
        "magnetization_per_chain": [round(float(v), 4) for v in mag.mean(1)],
        "abs_magnetization_mean": float(np.abs(mag).mean()),
    }
    folder = check_writable(out / name)
    arviz_compat.to_netcdf(idata, folder / "idata.nc")
    (folder / "summary.json").write_text(json.dumps(json_document(summary), indent=2))
    return summary


@contextlib.contextmanager
def _folder_lock(out: Path):
    """One ``train`` at a time per ``--out``: a lock file made with ``O_EXCL`` while the run
    writes there, removed when it ends (normally, with an error or Ctrl-C)."""
    lock = out / ".ergodic-ppl.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise ModelFileError(
            f"another `ergodic-ppl train` is writing to {out} (lock file {lock}, "
            f"{lock.read_text(errors='replace').strip() or 'no pid'}): wait for it, or choose "
            "another --out; delete the lock file if no run is active (a killed run leaves it)."
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(f"pid {os.getpid()}\n")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _claim_folders(folders: list[Path], overwrite: bool) -> None:
    """Each run writes a folder of its own: one that holds an earlier report is refused
    (before anything is sampled), or with ``--overwrite`` emptied first, so that two runs'
    files never mix."""
    taken = [f for f in folders if f.is_dir() and any(f.iterdir())]
    if taken and not overwrite:
        raise ModelFileError(
            f"{', '.join(map(str, taken))} holds an earlier report: choose another --out, or "
            "pass --overwrite to replace it."
        )
    for folder in taken:
        shutil.rmtree(folder)


def _stage(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"[ergodic-ppl] {message}", file=sys.stderr, flush=True)


def _analyze_one(name, model, kwargs, patterns, args, out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")

    from . import arviz_compat
    from .diagnostics import diagnose
    from .report import build

    quiet = not args.progress
    if args.tempering:  # before sampling: a model tempering cannot run fails at once
        spin_model, beta = _boltzmann_site(name, model, kwargs, "--tempering")
    _stage(f"{name}: sampling {args.chains} chains x {args.draws} draws", quiet)
    mcmc, seconds_sampling = _run_mcmc(name, model, kwargs, args)
    _stage(f"{name}: quenching every draw and diagnosing", quiet)
    start = time.perf_counter()
    report = diagnose(mcmc, patterns=patterns)
    meta = {
        **_settings(kwargs, args),
        "seconds_sampling": seconds_sampling,
        "seconds_diagnosing": time.perf_counter() - start,
    }
    tempered = None
    if args.tempering:
        tempered = _tempered_basins(name, spin_model, beta, report, args)
        meta["seconds_tempering"] = time.perf_counter() - start - meta["seconds_diagnosing"]
    analysis = build(
        report,
        name=name,
        idata=arviz_compat.from_numpyro(mcmc),
        patterns=patterns,
        meta=meta,
        tempering=tempered,
        provenance=provenance(command=args.command_line, seed=args.seed),
    )
    _stage(f"{name}: writing figures and the report to {out / name}", quiet)
    analysis.write(out / name)
    return analysis.to_dict()


def _boltzmann_site(name, model, kwargs, purpose: str):
    """``(SpinModel, beta)`` of the one ``BoltzmannSpins`` site of ``model(**kwargs)`` (traced
    once, before any sampling), or a :class:`ModelFileError` saying what ``purpose`` needs."""
    from .diagnostics.inputs import spin_model_of

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


def _tempered_basins(name, spin_model, beta, report, args):
    """Per-basin free energies of the diagnosed basins from parallel tempering (``--tempering``)."""
    import jax

    from .basins import tempered_free_energies

    if report.landscape is None or not len(report.landscape.minima):
        raise ModelFileError(f"--tempering: the chains of {name!r} found no basins to weigh.")
    _stage(
        f"{name}: parallel tempering, {args.chains} chains x {args.draws} draws on "
        f"{args.rungs} rungs, for the basins' free energies",
        not args.progress,
    )
    return tempered_free_energies(
        report.landscape,
        spin_model,
        beta,
        jax.random.key(args.seed + 1),
        num_chains=args.chains,
        num_draws=args.draws,
        num_warmup=args.warmup,
        num_rungs=args.rungs,
    )


def _add_common(p, default_chains: int) -> None:
    p.add_argument(
        "model_file",
        nargs="?",
        type=Path,
        help="Python file defining a NumPyro `model` with binary latent sites (optional: "
        "`model_kwargs` dict, `patterns` array); default: the embedded model",
    )
    p.add_argument(
        "--out", type=Path, default=Path("ergodic-ppl-report"), help="report folder (%(default)s)"
    )
    p.add_argument("--chains", type=int, default=default_chains, help="chains (%(default)s)")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (%(default)s)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up sweeps (%(default)s)")
    p.add_argument(
        "--scan",
        default="chromatic",
        choices=("chromatic", "sequential", "random"),
        help="SpinGibbs scan order (%(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run folders of an earlier report in --out (default: refuse)",
    )


def _image_shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 8x8; got {text!r}") from None
    return h, w


def _add_train(sub) -> None:
    from .pipeline import DEFAULTS, RBM_DEFAULTS

    p = sub.add_parser(
        "train",
        help="train a model on binary data, diagnose it, fit the per-basin mixture, report",
        description="Train a spin model on binary data with persistent chains (monitored, "
        "checkpointed), score it on held-out data, diagnose its final chains, build the basin "
        "graph, fit one model per basin (BasinMixture) and write a report folder. Without "
        "DATA: scikit-learn's 8x8 digits, binarised.",
    )
    p.add_argument(
        "data",
        nargs="?",
        type=Path,
        help=".npy, .csv or .txt file of rows of 0/1 bits (bit 0 = spin +1, bit 1 = spin -1) "
        "or -1/+1 spins; default: the digits",
    )
    p.add_argument(
        "--model",
        default="pairwise",
        help='"pairwise" (fully visible Boltzmann machine), "rbm:H" (H hidden spins) or a '
        "Python file defining a NumPyro `model` with a BoltzmannSpins site (optional "
        "`model_kwargs`) whose spin model is the initial model (%(default)s)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("ergodic-ppl-train"), help="report folder (%(default)s)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out's checkpoint")
    p.add_argument(
        "--test",
        type=Path,
        help="held-out rows in a file of the same format: all of DATA trains and these are "
        "scored (default: 20%% of DATA held out)",
    )
    p.add_argument("--image-shape", type=_image_shape, help="draw states as HxW images")
    rbm = RBM_DEFAULTS
    p.add_argument(
        "--steps",
        type=int,
        help=f"updates ({DEFAULTS['steps']}; {rbm['steps']} for rbm:H)",
    )
    p.add_argument(
        "--chains",
        type=int,
        help=f"persistent chains ({DEFAULTS['num_chains']}; {rbm['num_chains']} for rbm:H)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS["batch_size"],
        help="rows per update (%(default)s)",
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        help="initial rate, decayed to 0 by a cosine: adam's (1e-2, times 64/n beyond 64 "
        "spins; 1e-3 with hidden spins), "
        f"for rbm:H SGD's with momentum 0.9 ({rbm['learning_rate']:g})",
    )
    p.add_argument("--no-mixture", dest="mixture", action="store_false", help="skip the mixture")
    p.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def _check_flags(parser, args) -> None:
    """Out-of-range options, named as the user typed them (``parser.error`` exits with 2)."""
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer; got {args.seed}")
    if args.command != "train":
        return
    for flag, value, low in (("--steps", args.steps, 1), ("--chains", args.chains, 2),
                             ("--batch-size", args.batch_size, 1)):  # fmt: skip
        if value is not None and value < low:
            parser.error(f"{flag} must be at least {low}; got {value}")
    rate = args.learning_rate
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        parser.error(f"--learning-rate must be a finite number > 0; got {rate}")


def _train_spec(args):
    """``(data, name, source, image_shape, model, beta)`` from the ``train`` arguments."""
    from . import datasets

    if args.data is None:
        data, name, source, shape = datasets.digits(), "digits", "scikit-learn digits", (8, 8)
    else:
        data, name, source, shape = datasets.load(args.data), args.data.stem, str(args.data), None
    shape = args.image_shape or shape
    model, beta = args.model, 1.0
    if args.model.endswith(".py"):
        [(_, fn, kwargs, _)] = _load_model_file(Path(args.model))
        model, beta = _boltzmann_site(args.model, fn, kwargs, "train --model")
    return data, name, source, shape, model, float(beta)


def _train(args) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from . import datasets
    from .pipeline import train_and_report

    checkpoint = args.out / "checkpoint.npz"
    data, name, source, shape, model, beta = _train_spec(args)
    test = None if args.test is None else datasets.load(args.test)
    if checkpoint.exists() and not args.resume:
        raise ModelFileError(
            f"{checkpoint} holds an earlier run: continue it with --resume, or choose another "
            "--out (or delete the checkpoint)."
        )
    options = {"steps": args.steps, "num_chains": args.chains, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate}  # fmt: skip
    options = {k: v for k, v in options.items() if v is not None}  # None: the model's recipe
    try:
        result = train_and_report(
            data, model=model, beta=beta, image_shape=shape, name=name, source=source,
            seed=args.seed, checkpoint=checkpoint, resume=args.resume, progress=args.progress,
            mixture=args.mixture, stage=lambda m: _stage(m, not args.progress), test=test,
            **options,
        )  # fmt: skip
    except KeyboardInterrupt:
        print(
            f"ergodic-ppl: interrupted; {checkpoint} keeps the updates done so far: continue "
            "with the same command and --resume.",
            file=sys.stderr,
        )
        return 130
    _stage(f"writing the report to {args.out}", not args.progress)
    result.provenance = provenance(command=args.command_line, seed=args.seed)
    result.write(args.out)
    h, m = result.held_out, result.mixture_held_out
    line = f"{name}: held-out log-likelihood per row {h['log_likelihood']:.3f}"
    if "log_likelihood_bracket" in h:
        lo, hi = h["log_likelihood_bracket"]
        line += f" (log Z by reverse AIS: {lo:.3f}, by forward AIS: {hi:.3f})"
    if "log_z_warning" in h:
        print(f"warning: {h['log_z_warning']}", file=sys.stderr)
    if m is not None:
        line += (
            f", mixture of {result.mixture.n_components_} components {m['log_likelihood']:.3f} "
            f"({m['minus_single_model']:+.3f} ± {m['minus_single_model_paired_stderr']:.3f})"
        )
    print(f"{line}; chains: {result.analysis.report.status}")
    if m is not None:
        print(m["verdict"])
    print(f"report written to {args.out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = ["ergodic-ppl", *argv]  # as typed: the reports' provenance
    if not argv or argv[0] not in ("sample", "analyze", "train", "-h", "--help"):
        argv = ["analyze", *argv]
    parser = argparse.ArgumentParser(
        prog="ergodic-ppl",
        description="Sample binary-spin NumPyro models and diagnose broken ergodicity.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    analyze = sub.add_parser(
        "analyze",
        help="sample, diagnose ergodicity, build the basin graph, write a report (default)",
        description="Sample a spin model with several chains, diagnose ergodicity, find the "
        "basins and their connections, and write a report folder. Without MODEL_FILE: a "
        "Hopfield network storing 3 patterns at low temperature.",
    )
    _add_common(analyze, default_chains=8)
    analyze.add_argument(
        "--tempering",
        action="store_true",
        help="also weigh the basins by parallel tempering: per-basin free energies with error "
        "bars (the same chains, draws and warm-up per ladder) in the summary and report",
    )
    analyze.add_argument(
        "--rungs", type=int, default=16, help="rungs of the --tempering ladder (%(default)s)"
    )
    sample = sub.add_parser("sample", help="only sample a model and write a report folder")
    _add_common(sample, default_chains=8)
    _add_train(sub)
    args = parser.parse_args(argv)
    args.command_line = command_line
    _check_flags(parser, args)
    if args.command == "train":
        try:
            check_writable(args.out)
            with _folder_lock(args.out):
                return _train(args)
        except (ModelFileError, ValueError) as exc:
            print(f"ergodic-ppl: error: {exc}", file=sys.stderr)
            return 2
    for name in ("chains", "draws"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be non-negative")
    if args.command == "analyze" and (args.chains < 2 or args.draws < 4):
        parser.error("analyze needs --chains >= 2 and --draws >= 4 to compare chains")
    if args.command == "analyze" and args.rungs < 2:
        parser.error("--rungs must be at least 2")

    try:
        check_writable(args.out)  # before sampling: a bad --out fails at once
        if args.model_file:
            runs = _load_model_file(args.model_file)
        else:
            runs = _default_hopfield() if args.command == "analyze" else _default_models()
        _claim_folders([args.out / name for name, *_ in runs], args.overwrite)
    except (ModelFileError, ValueError) as exc:
        print(f"ergodic-ppl: error: {exc}", file=sys.stderr)
        return 2
    folders = []
    for name, model, kwargs, patterns in runs:
        try:
            if args.command == "analyze":
                summary = _analyze_one(name, model, kwargs, patterns, args, args.out)
            else:
                summary = _sample_one(name, model, kwargs, args, args.out)
        except (ModelFileError, ValueError) as exc:
            print(f"ergodic-ppl: error: {exc}", file=sys.stderr)
            return 2
        folders.append(args.out / name)
        if args.command == "analyze":
            print(f"{name}: {summary['verdict']}")
            for line in tempering_lines(summary):  # --tempering: its results, as in report.txt
                print(f"{name}: {line}")
        else:
            print(
                f"{name}: {summary['status']}; E/n = {summary['energy_per_spin_mean']:+.4f}, "
                f"<|m|> = {summary['abs_magnetization_mean']:.3f}, "
                f"R-hat(E) = {summary['energy_rhat']:.3f}, "
                f"ESS(E) = {summary['energy_ess_bulk']:.0f}, "
                f"R-hat(m) = {summary['magnetization_rhat']:.2f}, chain m = "
                + " ".join(f"{v:+.2f}" for v in summary["magnetization_per_chain"])
            )
    print("report written to " + ", ".join(f"{folder}/" for folder in folders))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
