"""The command line: one parser assembled from the command modules (bench.commands),
and the edge where every error becomes one line and an exit status."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
import sys
import warnings

from bench.commands import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, NAMES
from bench.errors import BadInput
from bench.sweep import timeline

DESCRIPTION = """\
Time and peak memory of diffusers VAEs: encode and decode, across models,
resolutions, dtypes and tiled or untiled modes. Each run is a folder with
meta.json (the environment and resolved sweep) and cases.jsonl (one line per case).

Will a VAE fit your card? `vae-bench fit --card "RTX 3070" --model sdxl --op
decode --size 1024` answers from the H200 runs the package ships.

exit status: 0 every case ok or oom (run), no regression (compare), it fits
(fit of one case); 1 some case ended in error, a regression, it does not fit;
2 bad input (nothing is written); 130 interrupted (finished cases are kept)."""


class _Parser(argparse.ArgumentParser):
    """argparse's mistakes as one line, like every other bad input."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"vae-bench: error: {message} (see {self.prog} --help)\n")


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    p = _Parser(
        prog="vae-bench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="store_true", help="print vae-bench's version and exit")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="with --version: also Python's, torch's and diffusers' versions",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    commands = {}
    for name in NAMES:
        module = importlib.import_module(f"bench.commands.{name}")
        description = getattr(module, "DESCRIPTION", None)
        command = sub.add_parser(
            name,
            help=module.HELP.replace("%", "%%"),  # argparse formats help with %
            description=description,
            # Descriptions with paragraphs keep their line breaks; the others are wrapped.
            formatter_class=argparse.RawDescriptionHelpFormatter
            if description and "\n" in description
            else argparse.HelpFormatter,
        )
        module.add_arguments(command)
        commands[name] = module
    return p, commands


def entry() -> None:
    """`vae-bench` and `python -m bench`: main(), and out without tearing the
    interpreter down. Freeing the modules of torch and diffusers one by one took 1 to
    3 s after a sweep had printed its last line; the exit handlers (multiprocessing's,
    Ray's, logging's) still run, and what is written was flushed before."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    timeline.enter()
    # SIGTERM stops a command as Ctrl-C does, from the first moment: a sweep keeps
    # what it finished and says how to resume, and the exit status is 130 either way.
    saved = {signal.SIGINT: signal.getsignal(signal.SIGINT)}  # a stopped sweep ignores it
    try:
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, _interrupt)
        return _main(argv)
    except KeyboardInterrupt:  # one that came before _main's own handling, or after it
        print("\nvae-bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _main(argv: list[str] | None) -> int:
    try:
        parser, commands = _parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help, or a mistake argparse has printed as one line
            return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
        if args.version:
            print(_version(args.verbose), end="")
            return EXIT_OK
        if args.command is None:
            parser.error("name a COMMAND")
        warnings.showwarning = _show_warning
        return commands[args.command].run(args)
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
    except Exception as exc:
        if not _interrupted(exc):
            raise
        # Ctrl-C inside an import (diffusers' classes load as a sweep plans) reaches us
        # wrapped: Python turns an exception in __set_name__ into a RuntimeError.
        print("\nvae-bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _version(verbose: bool) -> str:
    """The package's version; with `verbose`, what its answers depend on too, read
    from the installed packages' metadata (importing torch takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    from bench import __version__

    lines = [f"vae-bench {__version__}"]
    if verbose:
        import platform

        lines.append(f"python {platform.python_version()} ({platform.system()} {platform.machine()})")
        for name in ("torch", "diffusers"):
            try:
                lines.append(f"{name} {version(name)}")
            except PackageNotFoundError:
                lines.append(f"{name} not installed")
    return "\n".join(lines) + "\n"


def _interrupted(exc: BaseException) -> bool:
    """Whether this is Ctrl-C, wrapped as Python wraps an exception in __set_name__.
    Only a direct cause counts: an error raised while a Ctrl-C was being handled is a
    bug of its own, and keeps its traceback."""
    return isinstance(exc, RuntimeError) and isinstance(exc.__cause__, KeyboardInterrupt)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"vae-bench: warning: {message}", file=sys.stderr)
