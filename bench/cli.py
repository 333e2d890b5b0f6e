"""The command line: parses arguments and calls the modules that do the work."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import warnings
from pathlib import Path

from bench.errors import BadInput, shown

EXIT_OK, EXIT_FAILURES, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
Time and peak memory of diffusers VAEs: encode and decode, across models,
resolutions, dtypes and tiled or untiled modes. Each run is a folder with
meta.json (the environment and resolved sweep) and cases.jsonl (one line per case).

exit status: 0 every case ok or oom, 1 some case ended in error,
2 bad input (nothing is written), 130 interrupted (finished cases are kept)."""


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="vae-bench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a sweep file and store the run",
        description="Run every case of a sweep file (YAML) and store the results in a new run "
        "folder, or, with --resume, the cases an earlier run is missing.",
    )
    run.add_argument(
        "config",
        nargs="?",
        help="sweep file, e.g. configs/cpu.yaml (optional with --resume: the run's stored sweep is used)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="list the cases the sweep would run, and run nothing"
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR: run only the cases it has not stored",
    )
    run.add_argument(
        "--out", metavar="DIR", help="folder in which the run folder is made (default: the sweep's `output`)"
    )

    models = sub.add_parser("models", help="list the models of the registry")
    models.add_argument("--registry", metavar="FILE", help="a models.yaml (default: configs/models.yaml)")

    show = sub.add_parser("show", help="print the summary table of a stored run")
    show.add_argument("run_dir", metavar="RUN_DIR")
    _add_analysis_commands(sub)
    _add_docs_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # SIGTERM stops a command as Ctrl-C does, from the first moment: a sweep keeps
    # what it finished and says how to resume, and the exit status is 130 either way.
    saved = {
        signal.SIGINT: signal.getsignal(signal.SIGINT),  # a stopped sweep ignores it
        signal.SIGTERM: signal.signal(signal.SIGTERM, _interrupt),
    }
    try:
        return _main(argv)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _main(argv: list[str] | None) -> int:
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as stop:  # --help, or a mistake argparse has printed as one line
            return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
        warnings.showwarning = _show_warning
        return {
            "run": cmd_run,
            "models": cmd_models,
            "show": cmd_show,
            "compare": cmd_compare,
            "history": cmd_history,
            "plot": cmd_plot,
            "tables": cmd_tables,
            "docs": cmd_docs,
        }[args.command](args)
    except BadInput as exc:
        print("vae-bench: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        # Before a run folder exists (loading, downloading weights): nothing to keep.
        print("\nvae-bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `vae-bench compare ... | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # A folder we may not write, a read-only mount, a name too long: the user's to
        # fix, and nothing stored is lost by stopping here.
        parts = [str(p) for p in (exc.filename, exc.strerror or exc) if p is not None]
        print("vae-bench: error: " + ": ".join(parts), file=sys.stderr)
        return EXIT_BAD_INPUT


def _factor(text: str) -> float:
    """A ratio beyond which a change counts: finite and above 1 (nan or inf would turn
    every check off without a word)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number above 1, like 1.10, got {shown(text)}")
    return value


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {shown(text)}")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {shown(text)}")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """argparse's mistakes as one line, like every other bad input."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"vae-bench: error: {message} (see {self.prog} --help)\n")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"vae-bench: warning: {message}", file=sys.stderr)


def cmd_models(args) -> int:
    from tabulate import tabulate

    from bench.registry import load_registry

    rows = [
        [s.name, s.cls, s.family, s.repo or "-", s.subfolder or "-", s.params or "-"]
        for s in load_registry(args.registry).values()
    ]
    print(tabulate(rows, headers=["model", "class", "family", "repo", "subfolder", "params"]))
    return EXIT_OK


def cmd_show(args) -> int:
    from bench.store import load_run
    from bench.summary import summary_table

    meta, frame = load_run(args.run_dir)
    print(summary_table(frame))
    return EXIT_OK


def _add_analysis_commands(sub) -> None:
    """compare, history and plot: they read stored runs and never measure."""
    raw = argparse.RawDescriptionHelpFormatter
    cmp = sub.add_parser(
        "compare",
        help="compare two stored runs case by case; exit 1 on a regression",
        formatter_class=raw,
        description="Match the cases of two runs by their parameters and report which got slower "
        "(ratio of medians beyond --factor and a Mann-Whitney U test on the samples), which need "
        "more memory (beyond the larger of 16 MiB and 2% on GPUs, 64 MiB and 25% on CPUs), and which "
        "stopped fitting (ok -> oom).\n\n"
        "exit status: 0 no regression, 1 regression found, 2 bad input.",
    )
    cmp.add_argument("base", metavar="BASE_RUN")
    cmp.add_argument("new", metavar="NEW_RUN")
    cmp.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")
    cmp.add_argument(
        "--factor",
        type=_factor,
        help="time ratio beyond which a case is slower or faster (default 1.10 for GPU runs, 1.25 for CPU)",
    )
    cmp.add_argument(
        "--mem-floor", type=_amount, metavar="MIB", help="memory change always tolerated (default 16; CPU 64)"
    )
    cmp.add_argument(
        "--mem-percent", type=_amount, metavar="PCT", help="memory change, %% of the base (default 2; CPU 25)"
    )

    hist = sub.add_parser(
        "history",
        help="medians of each case across the runs of one device, with step changes",
        description="Every run of one device found below RESULTS_DIR, oldest first; one line per case "
        "with its median in each run; the run where a step change begins is marked.",
    )
    hist.add_argument("results", metavar="RESULTS_DIR")
    hist.add_argument("--model", help="only this model")
    hist.add_argument("--op", choices=("encode", "decode"), help="only this op")
    hist.add_argument("--device", help="device name (or part of it); default: the device of the newest run")
    hist.add_argument("--metric", choices=("time", "memory"), default="time", help="default: time")
    hist.add_argument("--factor", type=_factor, help="step to mark (default 1.10 for GPU runs, 1.25 for CPU)")
    hist.add_argument("--last", type=_positive, metavar="N", help="only the newest N runs")
    hist.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="PNG",
        help="also draw it (default file: RESULTS_DIR/history-<device>-<metric>.png)",
    )

    plot = sub.add_parser(
        "plot",
        help="draw memory, time and tiling plots of stored runs as PNGs",
        description="Peak memory and time against megapixels per model and op, and the cost of tiling "
        "per size; several runs are drawn together.",
    )
    plot.add_argument("runs", nargs="+", metavar="RUN_DIR")
    plot.add_argument("--out", metavar="DIR", help="where the PNGs go (default: the first run's plots/)")


def cmd_compare(args) -> int:
    from bench.compare import compare_runs
    from bench.report import render

    comparison = compare_runs(
        args.base,
        args.new,
        factor=args.factor,
        mem_floor=None if args.mem_floor is None else int(args.mem_floor * 1024**2),
        mem_fraction=None if args.mem_percent is None else args.mem_percent / 100,
    )
    print(render(comparison, args.format))
    return EXIT_FAILURES if comparison.regressed else EXIT_OK


def cmd_history(args) -> int:
    from bench.history import history, render
    from bench.store import slug

    h = history(
        args.results,
        model=args.model,
        op=args.op,
        device=args.device,
        metric=args.metric,
        factor=args.factor,
        last=args.last,
    )
    print(render(h))
    if args.plot is not None:
        from bench.plot import plot_history

        path = args.plot or Path(args.results) / f"history-{slug(h.device_name)}-{h.metric}.png"
        print(f"\nplot: {plot_history(h, path)}")
    return EXIT_OK


def cmd_plot(args) -> int:
    from bench.plot import plot_runs

    for path in plot_runs(args.runs, out=args.out):
        print(path)
    return EXIT_OK


def _add_docs_commands(sub) -> None:
    """tables and docs: the documentation tables, rendered from stored runs."""
    from bench.labels import LANGS
    from bench.styles import STYLES

    raw = argparse.RawDescriptionHelpFormatter
    tables = sub.add_parser(
        "tables",
        help="print the documentation tables of stored runs (markdown)",
        description="One table per model and op, rows device x resolution, untiled and tiled side by "
        "side, in the styles of the diffusers docs; several runs (one per GPU) merge into one table.",
    )
    tables.add_argument("runs", nargs="+", metavar="RUN_DIR")
    tables.add_argument("--spec", metavar="SPEC", help="render the blocks of a spec (configs/docs/*.yaml)")
    tables.add_argument("--lang", choices=LANGS, help="label set (default: the spec's, or en)")
    tables.add_argument("--style", choices=STYLES, help="one style for every table (default: by op)")

    docs = sub.add_parser(
        "docs",
        help="update, check or import the tables of a documentation page",
        formatter_class=raw,
        description="update: replace the table inside each <details><summary>TITLE</summary> block a "
        "spec names, leaving every other byte of the page as it was.\n"
        "check: lint every table of a page.\n"
        "import: read a page's published tables back into runs (one per device).\n\n"
        "exit status: 0 ok, 1 the page would change (update --check) or has problems (check), "
        "2 bad input (the page is left untouched).",
    )
    verbs = docs.add_subparsers(dest="docs_command", required=True, metavar="ACTION")
    update = verbs.add_parser("update", help="regenerate a page's tables from runs, in place")
    update.add_argument("page", metavar="PAGE")
    update.add_argument("runs", nargs="+", metavar="RUN_DIR")
    update.add_argument(
        "--spec", required=True, metavar="SPEC", help="table spec, e.g. configs/docs/hybrid-inference.yaml"
    )
    update.add_argument("--lang", choices=LANGS, help="label set (default: the spec's)")
    update.add_argument("--check", action="store_true", help="write nothing; exit 1 if the page would change")
    check = verbs.add_parser("check", help="lint the tables of pages; exit 1 on any problem")
    check.add_argument("pages", nargs="+", metavar="PAGE")
    check.add_argument("--lang", choices=LANGS, help="also flag headers and OOM words not of this language")
    imp = verbs.add_parser("import", help="read a page's published tables into runs, one per device")
    imp.add_argument("page", metavar="PAGE")
    imp.add_argument("--out", required=True, metavar="DIR", help="where the run folders go")
    imp.add_argument("--spec", metavar="SPEC", help="table spec (default: the shipped one that fits)")


def cmd_tables(args) -> int:
    from bench.docspec import load_spec
    from bench.doctables import tables_markdown

    spec = load_spec(args.spec) if args.spec else None
    print(tables_markdown(args.runs, spec=spec, lang=args.lang, style=args.style), end="")
    return EXIT_OK


def cmd_docs(args) -> int:
    return {"update": _docs_update, "check": _docs_check, "import": _docs_import}[args.docs_command](args)


def _docs_update(args) -> int:
    from bench.docs import update_page
    from bench.docspec import load_spec
    from bench.doctables import Measurements

    spec, data = load_spec(args.spec), Measurements(args.runs)
    update = update_page(args.page, spec, data, args.lang, check=args.check)
    titles = ", ".join(map(repr, update.changed))
    if not update.changed:
        print(f"{args.page}: up to date")
    elif args.check:
        print(f"{args.page}: would change: {titles}")
        return EXIT_FAILURES
    else:
        print(f"{args.page}: updated {titles}")
    return EXIT_OK


def _docs_check(args) -> int:
    from bench.doccheck import check_page

    found = 0
    for page in args.pages:
        problems = check_page(page, args.lang)
        for p in problems:
            print(f"{page}:{p.line}: {p.what}")
        found += len(problems)
    if found:
        print(f"{found} problem(s)", file=sys.stderr)
        return EXIT_FAILURES
    print(f"{', '.join(args.pages)}: tables ok")
    return EXIT_OK


def _docs_import(args) -> int:
    from bench.docimport import import_page, spec_for_page
    from bench.docspec import load_spec

    spec = load_spec(args.spec) if args.spec else spec_for_page(args.page)
    for run_dir in import_page(args.page, spec, args.out):
        print(run_dir)
    return EXIT_OK


def _write_tables(run_dir: Path) -> None:
    """tables.md next to the run's cases; a failure to render never costs the run."""
    from bench.doctables import write_run_tables

    try:
        print(f"tables written to {write_run_tables(run_dir)}")
    except Exception as exc:  # the cases are stored; the tables can be rendered later
        print(f"vae-bench: warning: tables.md not written: {exc}", file=sys.stderr)


def cmd_run(args) -> int:
    from bench import config, runner, store

    meta = None
    if args.resume:
        meta = store.read_meta(args.resume)
        stored = meta.get("config")
        if not isinstance(stored, dict):
            raise BadInput(Path(args.resume) / store.META, "config", "missing: cannot resume this run")
        if args.config:
            sweep = config.load_sweep(args.config)
            _check_same_sweep(sweep.to_dict(), stored, args.config, args.resume)
        else:
            sweep = config.from_dict(stored, source=Path(args.resume) / store.META)
    elif args.config:
        sweep = config.load_sweep(args.config)
    else:
        raise BadInput(None, "config", "give a sweep file (e.g. configs/cpu.yaml) or --resume RUN_DIR")

    plan = runner.plan(sweep, resolve=not args.dry_run, pinned=_pinned_weights(meta) if meta else None)
    if meta is not None:
        _check_resumable(meta, args.resume, plan, weights=not args.dry_run)
    if args.dry_run:
        return _dry_run(plan, args)

    writer = store.RunWriter.reopen(args.resume) if args.resume else _new_run(plan, args)
    try:
        return _sweep(writer, plan, resumed=bool(args.resume))
    finally:
        writer.close()


def _sweep(writer, plan, resumed: bool) -> int:
    """Run what the run folder lacks, with its lock held; on Ctrl-C or SIGTERM, mark it
    interrupted and say how to resume."""
    from bench import runner
    from bench.progress import Progress

    done = writer.done_ids()
    todo = [c for c in plan.cases if c.case_id not in done]
    print(
        f"vae-bench: {len(todo)} of {len(plan.cases)} cases to run on {plan.device} "
        f"({plan.device_name}); writing {writer.dir}",
        file=sys.stderr,
    )
    if resumed and not todo:
        if writer.meta.get("status") != "complete":
            writer.update_meta(status="complete", ended_at=_now())
        return _report(writer.dir)
    if resumed:
        writer.update_meta(status="running", resumed_at=writer.meta.get("resumed_at", []) + [_now()])
    for note in plan.warnings:
        print(f"vae-bench: warning: {note}", file=sys.stderr)
    writer.add_warnings(plan.warnings)

    progress = Progress(total=len(plan.cases), done=len(plan.cases) - len(todo))
    try:
        runner.Runner(plan, _StoreSink(writer, plan), done=done, progress=progress).run()
    except (runner.Interrupted, KeyboardInterrupt):
        runner.hold_signals()  # a second Ctrl-C must not cut this short
        progress.close()
        writer.update_meta(status="interrupted", ended_at=_now())
        n = len(writer.done_ids() & {c.case_id for c in plan.cases})
        print(
            f"\nvae-bench: interrupted; {n} of {len(plan.cases)} cases are stored in {writer.dir}\n"
            f"resume with: vae-bench run --resume {writer.dir}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    progress.close()
    writer.update_meta(status="complete", ended_at=_now())
    return _report(writer.dir)


def _report(run_dir: Path) -> int:
    from bench.store import load_run
    from bench.summary import summary_table

    _, frame = load_run(run_dir)
    print(summary_table(frame))
    print(f"\nrun stored in {run_dir}")
    _write_tables(run_dir)
    errors = int((frame["status"] == "error").sum()) if not frame.empty else 0
    if errors:
        print(
            f"vae-bench: {errors} case(s) ended in error; see the `error` field in {run_dir / 'cases.jsonl'}",
            file=sys.stderr,
        )
        return EXIT_FAILURES
    return EXIT_OK


def _dry_run(plan, args) -> int:
    from tabulate import tabulate

    done = set()
    if args.resume:
        from bench.store import read_cases

        done = {r["case_id"] for r in read_cases(args.resume)}
    rows = [
        [i, c.case_id, c.label, "stored" if c.case_id in done else "to run"]
        for i, c in enumerate(plan.cases, 1)
    ]
    print(tabulate(rows, headers=["#", "case_id", "case", "state"]))
    print(
        f"\n{len(plan.cases)} cases on {plan.device} ({plan.device_name}); "
        f"weights: {plan.sweep.weights}; dry run, nothing was run or written"
    )
    return EXIT_OK


def _check_resumable(meta: dict, run_dir, plan, weights: bool = True) -> None:
    """Only a run measured here, on this very device, with the same models, may be
    continued here."""
    if meta.get("imported"):
        raise BadInput(
            run_dir, "imported", "this run was imported from published tables; it cannot be resumed"
        )
    device = meta.get("device") or {}
    if device.get("device") and device["device"] != plan.device:
        raise BadInput(
            run_dir,
            "device",
            f"this run was made on {device['device']}; it cannot be resumed on {plan.device}",
        )
    if device.get("name") and device["name"] != plan.device_name:
        raise BadInput(
            run_dir, "device", f"this run was made on a {device['name']}; this is a {plan.device_name}"
        )
    models = meta.get("models") or {}
    for name, spec in plan.specs.items():
        now = _model_entry(spec, plan.weights[name])
        then = models.get(name)
        if not isinstance(then, dict):
            raise BadInput(run_dir, f"models.{name}", "not recorded in meta.json; this run cannot be resumed")
        keys = ["class", "repo", "subfolder", "config_sha256"]
        for key in keys:
            if key in then and then[key] != now[key]:
                raise BadInput(
                    run_dir,
                    f"models.{name}.{key}",
                    f"the run was made with {shown(then[key])}, the registry now gives {shown(now[key])}; "
                    "resume with the registry the run was made with, or start a new run",
                )
        old, new = then.get("weights") or {}, now["weights"]
        for key in ("kind", "source", "revision") if weights else ():
            if key in old and old[key] != new[key]:
                raise BadInput(
                    run_dir,
                    f"models.{name}.weights.{key}",
                    f"the run was made with {shown(old[key])}, now it would be {shown(new[key])}; "
                    "one run holds the cases of one set of weights: start a new run",
                )


def _pinned_weights(meta: dict) -> dict:
    """The random weights a run was made with stay random on resume, even when the hub
    can be reached now: one run measures one set of weights."""
    from bench.models import Weights

    pinned = {}
    for name, entry in (meta.get("models") or {}).items():
        w = entry.get("weights") if isinstance(entry, dict) else None
        if isinstance(w, dict) and w.get("kind") == "random":
            pinned[name] = Weights(**{k: w.get(k) for k in ("kind", "path", "source", "revision", "note")})
    return pinned


def _model_entry(spec, weights) -> dict:
    """What meta.json says of one model: enough to refuse a resume through another."""
    return {
        "class": spec.cls,
        "repo": spec.repo,
        "subfolder": spec.subfolder,
        "config": _relative(spec.config_path),
        "config_sha256": spec.config_hash,
        "weights": weights.to_dict(),
    }


def _check_same_sweep(new: dict, stored: dict, config_path, run_dir) -> None:
    """A resumed run must measure the same sweep it started with."""
    for key in sorted(set(new) | set(stored)):
        if key in ("output", "registry"):
            continue
        if new.get(key) != stored.get(key):
            raise BadInput(
                config_path,
                key,
                f"differs from the sweep stored in {run_dir} "
                f"({shown(new.get(key))} vs {shown(stored.get(key))}); resume without a config "
                "to use the stored one",
            )


def _now() -> str:
    from bench.worker import now

    return now()


def _new_run(plan, args):
    from bench import store
    from bench.measure.environment import capture, gpu_summary

    device = {"device": plan.device, "name": plan.device_name}
    if plan.device.startswith("cuda"):
        device.update({f"nvml_{k}": v for k, v in gpu_summary(int(plan.device.split(":")[1])).items()})
    meta = {
        "name": plan.sweep.name,
        "status": "running",
        "started_at": _now(),
        "ended_at": None,
        "command": " ".join(["vae-bench", *sys.argv[1:]]),
        "config_file": plan.sweep.source,
        "config": plan.sweep.to_dict(),
        "environment": capture(plan.device),
        "device": device,
        "models": {name: _model_entry(spec, plan.weights[name]) for name, spec in plan.specs.items()},
        "cases_planned": len(plan.cases),
        "warnings": [],
    }
    root = Path(args.out or plan.sweep.output)
    # A CPU run's folder says "cpu"; its meta.json names the processor.
    slug = "cpu" if plan.device == "cpu" else plan.device_name
    return store.RunWriter.create(root, store.new_run_id(slug, plan.sweep.name), meta)


def _relative(path: Path) -> str:
    """Paths inside the project are stored relative to it, so runs move between machines."""
    from bench.registry import CONFIGS_DIR

    try:
        return str(path.relative_to(CONFIGS_DIR.parent))
    except ValueError:
        return str(path)


class _StoreSink:
    """What the runner reports, written into the run folder."""

    def __init__(self, writer, plan):
        self.writer = writer
        self.plan = plan

    def append(self, record: dict) -> None:
        self.writer.append(record)

    def worker_ready(self, model: str, info: dict) -> None:
        meta = self.writer.meta
        device = {**meta.get("device", {}), **info["device"], "device": self.plan.device}
        models = meta.get("models", {})
        models.setdefault(model, {})["params"] = info["params"]
        self.writer.update_meta(device=device, models=models)
        self.writer.add_warnings(info.get("warnings", []))
