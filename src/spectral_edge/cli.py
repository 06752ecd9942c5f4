"""The ``spectral-edge`` command. Thin on purpose: it parses arguments and calls the library.

Every failure the user can fix is a :class:`SpectralEdgeError`, printed as one line without a
traceback, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from spectral_edge._version import __version__
from spectral_edge.errors import SpectralEdgeError


def cmd_runs(args) -> None:
    """List the runs of a store; delete runs by name or id, or prune the empty ones."""
    from spectral_edge.store import open_store

    if args.delete or args.prune:
        _delete_runs(args)
        return
    with open_store(args.store, read_only=True) as store:
        table = store.runs()
    if table.empty:
        print(f"no runs in {args.store}")
        return
    print(table.to_string(index=False))


def _delete_runs(args) -> None:
    from spectral_edge.store import open_store

    verb = "would delete" if args.dry_run else "deleted"
    with open_store(args.store, read_only=args.dry_run) as store:
        runs = [store.run(key) for key in args.delete]  # every name checked before any deletion
        names = [run.name for run in runs] + (store.empty_runs() if args.prune else [])
        names = list(dict.fromkeys(names))
        if not args.dry_run:
            for name in names:
                store.delete_run(name)
    if not names:
        print(f"no empty runs in {args.store}: nothing to delete")
    for name in names:
        print(f"{verb} run {name!r}")


def cmd_export(args) -> None:
    """Export one run to CSV or Parquet: its four tables, or one of them with --part."""
    from spectral_edge.store import open_store

    with open_store(args.store, read_only=True) as store:
        written = store.run(args.run).export(args.out, format=args.format, part=args.part)
    if len(written) > 1:
        print(f"wrote {len(written)} files ({', '.join(written)}):")
    for kind, path in written.items():
        print(f"{kind:>8}: {path}")


def cmd_train(args) -> None:
    """Train a preset (with --set overrides) into a run directory; see spectral_edge.lab."""
    from spectral_edge.lab.presets import get_preset, parse_overrides
    from spectral_edge.lab.trainer import train

    config = parse_overrides(args.set, get_preset(args.preset))
    summary = train(
        config,
        args.out,
        run_name=args.name or args.preset,
        overwrite=args.overwrite,
        resume=args.resume,
        preset=args.preset,
    )
    grok = summary.get("grok_step")
    print(
        f"run {summary['run']}: {summary['steps']} steps, test acc "
        f"{summary.get('test_acc', float('nan')):.3f}, "
        + (f"grokked at step {grok}" if grok is not None else "no grokking")
        + f"; store {summary['store']}"
    )


def cmd_demo(args) -> None:
    """The main job; see spectral_edge.lab.demo."""
    from spectral_edge.lab.demo import run_demo

    run_demo(out=args.out, quick=args.quick, seed=args.seed)


def cmd_dynamics(args) -> None:
    """Run dynamics analyses on a stored run; see spectral_edge.dynamics.analyses."""
    from spectral_edge.dynamics.analyses import ANALYSES, record_results, result_line, run_analyses
    from spectral_edge.store import open_store

    if args.analysis == "list":
        for a in ANALYSES.values():
            opts = ", ".join(f"{k}={v}" for k, v in a.options.items())
            print(f"{a.name:18} {a.description}" + (f" [{opts}]" if opts else ""))
        return
    names = [n.strip() for n in args.analysis.split(",") if n.strip()]
    options: dict[str, dict] = {n: {} for n in names}
    for item in args.set:
        if "=" not in item:
            raise SpectralEdgeError(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if "." in key:
            target, key = key.split(".", 1)
        elif len(names) == 1:
            target = names[0]
        else:
            raise SpectralEdgeError("with several analyses, name the target: --set NAME.KEY=VALUE")
        if target not in options:
            raise SpectralEdgeError(f"--set names analysis {target!r}, which was not requested")
        options[target][key.strip()] = _option_value(value.strip())
    with open_store(args.store, read_only=args.dry_run) as store:
        run = store.run(args.run)
        results = run_analyses(run, names, write=False, options=options)
        written = 0 if args.dry_run else record_results(run, results, to_config=args.to_config)
    if args.json:  # one JSON document on stdout, whatever the number of analyses
        print(json.dumps(results, indent=2))
    else:
        for name, result in results.items():
            print(result_line(name, result))
    if not args.dry_run:
        again = len(results) - written
        print(
            f"recorded {written} analysis event(s) in run {run.name!r}"
            + (f"; {again} already recorded with the same result" if again else ""),
            file=sys.stderr if args.json else sys.stdout,
        )


def _option_value(text: str):
    """An analysis option from ``--set``: int, float, bool, None or the text itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


def cmd_reproduce(args) -> None:
    """Run and evaluate the twenty predictions; see spectral_edge.reproduce."""
    from spectral_edge.reproduce import reproduce

    budget = None if args.budget_min is None else args.budget_min * 60.0
    if args.jobs < 1:
        raise SpectralEdgeError(f"--jobs must be at least 1, got {args.jobs}")
    reproduce(
        args.suite, args.out, args.only, budget_s=budget, train=not args.no_train, jobs=args.jobs
    )


def cmd_analyze(args) -> None:
    """Analyse saved checkpoints into a run; see spectral_edge.integrations.checkpoints."""
    from spectral_edge.integrations.checkpoints import analyze, print_progress, summary

    monitor = analyze(
        args.paths,
        store=args.store,
        name=args.name,
        lr=args.lr,
        overwrite=args.overwrite,
        progress=print_progress,
        window=args.window,
        params=args.params,
        sketch_dim=args.sketch_dim,
        sketch=args.sketch,
        seed=args.seed,
        k_star=args.k_star,
        metrics=args.metrics,
    )
    print(summary(monitor, args.store))


def cmd_llc(args) -> None:
    """LLC series of lab runs at their saved weights, into CSVs; see spectral_edge.reproduce.llc."""
    from pathlib import Path

    import torch

    from spectral_edge.reproduce.llc import llc_series_to_csv, match_runs, saved_weights

    torch.set_num_threads(args.threads)
    runs = match_runs(args.run_dir, args.runs)
    if len(runs) > 1 and Path(args.out).suffix == ".csv":
        raise SpectralEdgeError(
            f"{len(runs)} runs need a directory for --out (one CSV per run), not {args.out}"
        )
    settings = {
        key: value
        for key, value in (
            ("lr", args.lr),
            ("n_beta", args.n_beta),
            ("localization", args.localization),
            ("num_chains", args.chains),
            ("num_draws", args.draws),
            ("num_burnin", args.burnin),
            ("batch_size", args.batch_size),
        )
        if value is not None
    }
    with_weights = [run for run in runs if saved_weights(args.run_dir, run)]
    for run in runs:
        if run not in with_weights:
            print(f"[{run}] no saved weights (trained without weights_every); skipped")
    if not with_weights:
        raise SpectralEdgeError(f"none of {runs} has saved weights under {args.run_dir}")
    for run in with_weights:
        path = llc_series_to_csv(
            args.run_dir,
            run,
            args.out,
            overwrite=args.overwrite,
            progress=lambda line: print(line, flush=True),
            steps=args.steps,
            seed=args.seed,
            **settings,
        )
        print(f"{run}: {path}", flush=True)


def cmd_report(args) -> None:
    """Write the self-contained HTML report of a run or a store; see spectral_edge.report."""
    from spectral_edge.report import write_report

    path = write_report(args.source, args.out, run=args.run)
    print(f"report: {path}")


def cmd_compare(args) -> None:
    """Compare runs side by side (what differs, windows, numbers); see spectral_edge.report."""
    from spectral_edge.report import compare_runs, format_comparison, write_compare_report
    from spectral_edge.store import open_store

    with open_store(args.store, read_only=True) as store:
        runs = [store.run(name) for name in args.runs]
        print(format_comparison(compare_runs(runs)))
        if args.out:
            print(f"\nreport: {write_compare_report(runs, args.out)}")


def cmd_watch(args) -> None:
    """Follow a running job from another terminal; see spectral_edge.watch."""
    from spectral_edge.watch import watch

    try:
        watch(
            args.store,
            args.run,
            interval=args.interval,
            once=args.once,
            wait=args.wait,
            live=False if args.plain else None,
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watcher is left; the run goes on


def cmd_early_warning(args) -> None:
    """Tune the warning rules on the tuning runs, or score them on the others."""
    from spectral_edge.reproduce.early_warning import score_store, tune_store
    from spectral_edge.store import open_store

    with open_store(args.store, read_only=True) as store:
        if args.action == "tune":
            tune_store(store, args.out, llc_dir=args.llc, stream=sys.stdout)
        else:
            if not args.rules:
                raise SpectralEdgeError("score needs --rules FILE (the output of tune)")
            score_store(store, args.rules, args.out, llc_dir=args.llc, stream=sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectral-edge",
        description="Watch the spectral edge of parameter updates during and after training.",
        epilog="example:\n  spectral-edge demo --quick\n  spectral-edge watch runs/demo --once\n"
        "each command's --help ends with its own example",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spectral-edge {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the library's detailed log (DEBUG)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, example: str, **kwargs) -> argparse.ArgumentParser:
        """A subcommand whose --help ends with an example (or several, one a line)."""
        return sub.add_parser(
            name,
            epilog="example:\n  " + example.replace("\n", "\n  "),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    demo = command(
        "demo",
        "spectral-edge demo --quick --out runs/demo",
        help="train modular addition with and without weight decay",
    )
    demo.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    demo.add_argument("--quick", action="store_true", help="a shorter run, for a smoke test")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

    train = command(
        "train",
        "spectral-edge train modadd-cpu --set steps=2000 --set lr=3e-3 --out runs\n"
        "spectral-edge watch runs/ --run modadd-cpu      # from another terminal",
        help="train a preset with the monitor attached",
    )
    train.add_argument("preset", help="preset name (spectral_edge.lab.presets.PRESETS)")
    _set_option(train, "override a config field (repeatable), e.g. --set lr=3e-3 --set steps=2000")
    train.add_argument("--out", default="runs", help="run directory (default runs)")
    train.add_argument("--name", help="run name (default: the preset name)")
    train.add_argument("--overwrite", action="store_true", help="replace a run of that name")
    train.add_argument("--resume", action="store_true", help="continue from its checkpoint")
    train.set_defaults(func=cmd_train)

    runs = command(
        "runs",
        "spectral-edge runs runs/\nspectral-edge runs runs/ --delete my-run\n"
        "spectral-edge runs runs/ --prune --dry-run",
        help="list the runs in a store (or delete some)",
        description="List the runs in a store: status (running, finished, failed, interrupted: "
        "a run whose process died), windows, last step. --delete and --prune remove runs.",
    )
    runs.add_argument("store", help="a store file or directory")
    runs.add_argument(
        "--delete", nargs="+", default=[], metavar="RUN", help="delete these runs (names or ids)"
    )
    runs.add_argument(
        "--prune",
        action="store_true",
        help="delete the runs without any window that are not running",
    )
    runs.add_argument(
        "--dry-run", action="store_true", help="with --delete/--prune: say what would go"
    )
    runs.set_defaults(func=cmd_runs)

    report = command(
        "report",
        "spectral-edge report runs/ --run my-run --out my-run.html",
        help="write the HTML report of a run or a store",
    )
    report.add_argument("source", metavar="RUN_OR_STORE", help="a store file or directory")
    report.add_argument(
        "--run", help="report this run only, by name or id (default: every run of the store)"
    )
    report.add_argument("--out", help="HTML file (default: report.html beside the store)")
    report.set_defaults(func=cmd_report)

    compare = command(
        "compare",
        "spectral-edge compare runs/ wd-1 wd-0 --out compare.html",
        help="compare runs of a store side by side",
    )
    compare.add_argument("store", help="a store file or directory")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more run names or ids")
    compare.add_argument("--out", help="also write an HTML page with the curves compared")
    compare.set_defaults(func=cmd_compare)

    analyze = command(
        "analyze",
        "spectral-edge analyze ckpts/ --store runs/ --window 4 --name offline",
        help="analyse a sequence of saved checkpoints",
    )
    analyze.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="checkpoint files or directories (.pt/.pth/.bin, .ckpt, .safetensors, checkpoint-N/)",
    )
    analyze.add_argument("--store", help="run store to write the run to (default: print only)")
    analyze.add_argument("--name", help="run name (default: analyze-<first path>)")
    analyze.add_argument("--params", default="all", help="parameter selection (default all)")
    analyze.add_argument("--window", type=int, default=10, help="W (default 10)")
    analyze.add_argument("--sketch-dim", type=int, help="sketch dimension d (default: exact)")
    analyze.add_argument("--sketch", default="fold", choices=("fold", "gaussian"))
    analyze.add_argument("--seed", type=int, default=0, help="sketch seed")
    analyze.add_argument("--k-star", default="plain", help="k* variant (default plain)")
    analyze.add_argument("--lr", type=float, help="η when the checkpoints do not store it")
    analyze.add_argument(
        "--metrics",
        metavar="CSV_OR_KEYS",
        help="training metrics to store beside the windows: a CSV with a step column, or the "
        "key(s) holding them in each checkpoint (e.g. metrics, or loss,val_acc); default: a "
        "'metrics' dict when checkpoints have one, and HF trainer_state.json log history",
    )
    analyze.add_argument("--overwrite", action="store_true", help="replace a run of that name")
    analyze.set_defaults(func=cmd_analyze)

    export = command(
        "export",
        "spectral-edge export runs/ my-run out/my-run.csv\n"
        "spectral-edge export runs/ my-run out/windows.parquet --part windows",
        help="export a run to CSV or Parquet",
        description="A run is four things, so export writes a set of files: OUT=out/x.csv writes "
        "out/x_windows.csv, out/x_metrics.csv, out/x_events.csv and out/x_run.json (config, "
        "seeds, definitions); a directory OUT receives <run>_windows.csv and so on. With "
        "--part, exactly one file: OUT itself.",
    )
    export.add_argument("store", help="a store file or directory")
    export.add_argument("run", help="run name or id")
    export.add_argument(
        "out", help="a prefix such as out/x.csv, a directory, or with --part the file to write"
    )
    export.add_argument("--format", choices=("csv", "parquet"), help="needed for a directory")
    export.add_argument(
        "--part", choices=("windows", "metrics", "events"), help="write this one table to OUT"
    )
    export.set_defaults(func=cmd_export)

    llc = command(
        "llc",
        "spectral-edge llc runs/cpu 'cpu/modarith-add-*' --out runs/llc\n"
        "spectral-edge llc runs/cpu cpu/modarith-add-wd-s0 --steps 1000 2000 --out add.csv",
        help="the local learning coefficient (devinterp SGLD) at a run's saved weights",
    )
    llc.add_argument("run_dir", help="the run directory (its store and weights/)")
    llc.add_argument(
        "runs", nargs="+", metavar="RUN", help="run names or patterns, e.g. 'cpu/modarith-add-*'"
    )
    llc.add_argument(
        "--out", required=True, help="a directory (one RUN.csv per run) or, for one run, a .csv"
    )
    llc.add_argument("--steps", nargs="+", type=int, help="only these saved steps")
    llc.add_argument("--seed", type=int, default=0)
    # defaults: spectral_edge.reproduce.llc.CALIBRATED (docs/early-warning.md), not imported here
    llc.add_argument("--lr", type=float, help="SGLD step ε (default: the calibrated one)")
    llc.add_argument("--n-beta", type=float, help="inverse temperature nβ (default n / log n)")
    llc.add_argument("--localization", type=float, help="γ (default: the calibrated one)")
    llc.add_argument("--chains", type=int, help="SGLD chains (default: calibrated)")
    llc.add_argument("--draws", type=int, help="draws per chain (default: calibrated)")
    llc.add_argument("--burnin", type=int, help="burn-in steps per chain (default: calibrated)")
    llc.add_argument("--batch-size", type=int, help="SGLD minibatch (default: calibrated)")
    llc.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: small batches gain little from more, and a shared "
        "machine's busy cores make them much slower)",
    )
    llc.add_argument(
        "--overwrite", action="store_true", help="redo a CSV already there instead of continuing"
    )
    llc.set_defaults(func=cmd_llc)

    dynamics = command(
        "dynamics",
        "spectral-edge dynamics runs/ my-run list\n"
        "spectral-edge dynamics runs/ my-run phases,lags --dry-run",
        help="run a dynamics analysis on a stored run",
    )
    dynamics_arguments(dynamics)
    dynamics.set_defaults(func=cmd_dynamics)

    rep = command(
        "reproduce",
        "spectral-edge reproduce --suite quick --out runs/reproduce-quick",
        help="run and score the thesis' twenty predictions",
    )
    rep.add_argument("--suite", choices=("quick", "cpu", "gpu"), default="quick")
    rep.add_argument("--only", nargs="+", metavar="ID", help="prediction ids, e.g. C1 T2")
    rep.add_argument("--out", help="run directory (default runs/reproduce-SUITE)")
    rep.add_argument("--budget-min", type=float, help="start no new run after this many minutes")
    rep.add_argument("--no-train", action="store_true", help="only evaluate the stored runs")
    rep.add_argument(
        "--jobs", type=int, default=1, help="runs trained at once, one process each (default 1)"
    )
    rep.set_defaults(func=cmd_reproduce)

    ew = command(
        "early-warning",
        "spectral-edge early-warning tune runs/reproduce-cpu --out rules.json\n"
        "spectral-edge early-warning score runs/reproduce-cpu --rules rules.json --out ew/",
        help="tune and score early-warning rules on a campaign's runs (docs/early-warning.md)",
    )
    ew.add_argument("action", choices=("tune", "score"))
    ew.add_argument("store", help="the campaign's store (spectral-edge reproduce --suite cpu)")
    ew.add_argument("--out", required=True, help="tune: a JSON file; score: a directory")
    ew.add_argument("--rules", help="score: the JSON file written by tune")
    ew.add_argument("--llc", help="a directory of per-run LLC series (step,llc CSV files)")
    ew.set_defaults(func=cmd_early_warning)

    watch = command(
        "watch",
        "spectral-edge watch runs/                     # the newest running run, live\n"
        "spectral-edge watch runs/ --run my-run --once  # one frame, e.g. in a script\n"
        "spectral-edge watch runs/ --run my-run --wait | tee watch.log",
        help="follow a running job live: windows, events, metrics, text plots",
        description="Follow a run from another terminal until it finishes (or Ctrl-C): the "
        "latest windows (k*, R, r23, g23, A and its regime), text plots of the series, the "
        "training metrics and the events as they arrive. The store is opened read-only and "
        "the writer is never blocked. On a terminal the screen is redrawn in place; piped, "
        "each new window, metric step and event is one line, then the final frame.",
    )
    watch.add_argument("store", help="a store file or directory")
    watch.add_argument(
        "--run", help="run name or id (default: the newest running run, else the newest run)"
    )
    watch.add_argument(
        "--interval", type=float, default=2.0, help="seconds between refreshes (default 2)"
    )
    watch.add_argument("--once", action="store_true", help="print one frame and exit")
    watch.add_argument(
        "--plain", action="store_true", help="lines instead of a redrawn screen, on a terminal too"
    )
    watch.add_argument(
        "--wait", action="store_true", help="wait for the store and the run to appear"
    )
    watch.set_defaults(func=cmd_watch)
    return parser


def _set_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)


def dynamics_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``spectral-edge dynamics`` (see :mod:`spectral_edge.dynamics.analyses`)."""
    parser.add_argument("store", help="a store file or directory")
    parser.add_argument("run", help="run name or id")
    parser.add_argument(
        "analysis", help="analysis name(s), comma-separated, or 'list' to show them"
    )
    _set_option(
        parser, "an analysis option (repeatable); with several analyses write NAME.KEY=VALUE"
    )
    parser.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
    parser.add_argument(
        "--to-config", action="store_true", help="also store results under config['analyses']"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as one JSON document {name: result}"
    )


def _show_logs(verbose: bool) -> None:
    """The library's log records on stderr, as ``spectral-edge: message``: progress and
    warnings (INFO), and with -v the details (DEBUG)."""
    import logging

    class Stderr(logging.StreamHandler):
        """Writes to whatever sys.stderr is at the time (main may run many times in one
        process, e.g. under a test's captured stderr)."""

        stream = property(lambda self: sys.stderr, lambda self, value: None)

    logger = logging.getLogger("spectral_edge")
    if not any(type(h).__name__ == "Stderr" for h in logger.handlers):
        handler = Stderr()
        handler.setFormatter(logging.Formatter("spectral-edge: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _show_logs(args.verbose)
    try:
        args.func(args)
    except SpectralEdgeError as exc:
        print(f"spectral-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spectral-edge: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
