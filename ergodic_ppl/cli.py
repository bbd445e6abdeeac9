"""The ``ergodic-ppl`` command: argument parsing only.  Each command is one call of
:mod:`ergodic_ppl.pipeline` (:func:`~ergodic_ppl.pipeline.run_analyze`,
:func:`~ergodic_ppl.pipeline.run_sample`, :func:`~ergodic_ppl.pipeline.run_train`), whose
results this module prints.

``ergodic-ppl analyze [MODEL_FILE] [--out DIR]`` (the default command) samples a NumPyro spin
model with several ``SpinGibbs`` chains, diagnoses ergodicity (``ep.diagnose``) and writes the
report folder of :mod:`ergodic_ppl.report` (``summary.json``, ``report.txt``, a self-contained
``report.html``, figures, ``basin_graph.json``, ``idata.nc``).  With no file it runs an
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
bad data file, a folder holding another run (unfinished: continue it with ``--resume``;
finished: the message names its report) or a bad model exit with status 2; an interrupted run
(Ctrl-C) exits with 130 and is continued by the same command with ``--resume``.  ``--resume``
on a finished run trains nothing: it prints the results of its complete report, or writes the
report when it was not completely written.  ``--overwrite`` trains anew in place of an earlier
run.

``MODEL_FILE`` is a Python file defining a callable ``model`` (a NumPyro model whose latent
sites are binary) and optionally a dict ``model_kwargs`` and, for ``analyze``, an array
``patterns`` (P, n) of ±1 patterns whose overlaps are diagnosed.  Errors in the file, a
``model_kwargs`` key that is no parameter of ``model``, a model that raises when sampled and an
``--out`` folder that cannot be written (checked before sampling) exit with status 2 and a
one-line message.  A write that fails while the run writes (``OSError``: a full disk) exits with
status 1 and a one-line message naming the folder; no file is left truncated.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from . import pipeline
from .pipeline.runs import CHECKPOINT
from .report import tempering_lines


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
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out's checkpoint (a finished run: report only, no training)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out: its checkpoint, records and report (default: refuse)",
    )
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


def _parser() -> argparse.ArgumentParser:
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
    return parser


def _check_flags(parser, args) -> None:
    """Out-of-range options, named as the user typed them (``parser.error`` exits with 2)."""
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer; got {args.seed}")
    if args.command == "train":
        for flag, value, low in (("--steps", args.steps, 1), ("--chains", args.chains, 2),
                                 ("--batch-size", args.batch_size, 1)):  # fmt: skip
            if value is not None and value < low:
                parser.error(f"{flag} must be at least {low}; got {value}")
        rate = args.learning_rate
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            parser.error(f"--learning-rate must be a finite number > 0; got {rate}")
        if args.resume and args.overwrite:
            parser.error("--resume continues the run in --out, --overwrite replaces it: pass one")
        return
    for name in ("chains", "draws"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be non-negative")
    if args.command == "analyze" and (args.chains < 2 or args.draws < 4):
        parser.error("analyze needs --chains >= 2 and --draws >= 4 to compare chains")
    if args.command == "analyze" and args.rungs < 2:
        parser.error("--rungs must be at least 2")


def _stage(progress: bool):
    """The stage lines on stderr (none with ``--no-progress``)."""
    if not progress:
        return None
    return lambda message: print(f"[ergodic-ppl] {message}", file=sys.stderr, flush=True)


def _error(message) -> None:
    print(f"ergodic-ppl: error: {message}", file=sys.stderr)


def _write_failed(exc: OSError, out: Path) -> str:
    """A failed write (a full disk) in one line, naming the folder."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"writing to {out} failed: {exc.strerror or exc}{where}"


def _print_run(command: str, run) -> None:
    """One model's result line(s) of ``analyze`` or ``sample``."""
    summary = run.summary
    if command == "analyze":
        print(f"{run.name}: {summary['verdict']}")
        for line in tempering_lines(summary):  # --tempering: its results, as in report.txt
            print(f"{run.name}: {line}")
        return
    print(
        f"{run.name}: {summary['status']}; E/n = {summary['energy_per_spin_mean']:+.4f}, "
        f"<|m|> = {summary['abs_magnetization_mean']:.3f}, "
        f"R-hat(E) = {summary['energy_rhat']:.3f}, "
        f"ESS(E) = {summary['energy_ess_bulk']:.0f}, "
        f"R-hat(m) = {summary['magnetization_rhat']:.2f}, chain m = "
        + " ".join(f"{v:+.2f}" for v in summary["magnetization_per_chain"])
    )


def _analyze_or_sample(args, command_line) -> int:
    run, extra = pipeline.run_sample, {}
    if args.command == "analyze":
        run = pipeline.run_analyze
        extra = {"tempering": args.tempering, "num_rungs": args.rungs,
                 "stage": _stage(args.progress)}  # fmt: skip
    try:
        results = run(
            args.model_file, out=args.out, overwrite=args.overwrite, command_line=command_line,
            on_result=lambda r: _print_run(args.command, r), num_chains=args.chains,
            num_draws=args.draws, num_warmup=args.warmup, scan=args.scan, seed=args.seed,
            progress=args.progress, **extra,
        )  # fmt: skip
    except ValueError as exc:
        _error(exc)
        return 2
    except OSError as exc:
        _error(f"{_write_failed(exc, args.out)}; free space and run the command again.")
        return 1
    print("report written to " + ", ".join(f"{r.folder}/" for r in results))
    return 0


def _number(summary: dict, *path):
    """A number of ``summary.json`` at ``path``; a ``null`` read back as the non-finite value
    its ``non_finite`` entry names."""
    value = summary
    for part in path:
        value = value[part]
    if value is None:
        pointer = "/" + "/".join(str(p) for p in path)
        value = float(summary.get("non_finite", {}).get(pointer, "nan"))
    return value


def _train(args, command_line) -> int:
    options = {"steps": args.steps, "num_chains": args.chains, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate}  # fmt: skip
    options = {k: v for k, v in options.items() if v is not None}  # None: the model's recipe
    checkpoint = args.out / CHECKPOINT
    try:
        run = pipeline.run_train(
            args.data, model=args.model, out=args.out, test=args.test,
            image_shape=args.image_shape, resume=args.resume, overwrite=args.overwrite,
            mixture=args.mixture, seed=args.seed, progress=args.progress,
            command_line=command_line, stage=_stage(args.progress), **options,
        )  # fmt: skip
    except KeyboardInterrupt:
        print(
            f"ergodic-ppl: interrupted; {checkpoint} keeps the updates done so far: continue "
            "with the same command and --resume.",
            file=sys.stderr,
        )
        return 130
    except ValueError as exc:
        _error(exc)
        return 2
    except OSError as exc:
        then = (f"{checkpoint.name} is intact: free space, then continue with the same command "
                "and --resume" if checkpoint.exists() else "free space and run the command "
                "again")  # fmt: skip
        _error(f"{_write_failed(exc, args.out)}; {then}.")
        return 1
    _print_train(run, args.out)
    return 0


def _print_train(run, out: Path) -> None:
    """The result lines of ``train``, from its ``summary.json``."""
    s = run.summary
    if not run.written:
        print(f"{run.name}: the run in {out} is finished and its report complete: nothing "
              "was trained or written (--overwrite trains it anew).")  # fmt: skip
    h, m = s["held_out"], (s["mixture"] or {}).get("held_out")
    value = _number(s, "held_out", "log_likelihood")
    line = f"{run.name}: held-out log-likelihood per row {value:.3f}"
    if "log_likelihood_bracket" in h:
        lo, hi = (_number(s, "held_out", "log_likelihood_bracket", i) for i in (0, 1))
        line += f" (log Z by reverse AIS: {lo:.3f}, by forward AIS: {hi:.3f})"
    if "log_z_warning" in h:
        print(f"warning: {h['log_z_warning']}", file=sys.stderr)
    if m is not None:
        mixed = ("mixture", "held_out")
        line += (
            f", mixture of {s['mixture']['num_components']} components "
            f"{_number(s, *mixed, 'log_likelihood'):.3f} "
            f"({_number(s, *mixed, 'minus_single_model'):+.3f} ± "
            f"{_number(s, *mixed, 'minus_single_model_paired_stderr'):.3f})"
        )
    print(f"{line}; chains: {s['diagnosis']['status']}")
    if m is not None:
        print(m["verdict"])
    print(f"report {'written to' if run.written else 'unchanged in'} {out}/")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = ["ergodic-ppl", *argv]  # as typed: the reports' provenance
    if not argv or argv[0] not in ("sample", "analyze", "train", "-h", "--help"):
        argv = ["analyze", *argv]
    parser = _parser()
    args = parser.parse_args(argv)
    _check_flags(parser, args)
    if args.command == "train":
        return _train(args, command_line)
    return _analyze_or_sample(args, command_line)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
