"""vae-bench matrix: one sweep run in one layered environment per `--with`, then each
environment's figures against the first one's, through compare's statistics.

Every layer is built (or found in the cache) before anything is measured, so a version
that cannot be installed stops the matrix before it costs a sweep. The state file
records each environment's run as soon as it has one; `--resume` finishes a run that
was stopped and starts those that never began."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BadInput
from bench.versions import state
from bench.versions.layers import DEFAULT_ENVS, INSTALLERS, Built, Cache, InstallFailed
from bench.versions.sweeps import run_slot
from bench.versions.wants import Want, parse_want

KIND = "matrix"
OK, FAILED = "ok", "failed"


@dataclass
class Entry:
    want: Want
    run: str | None = None  # the run folder's name, in the matrix's runs/
    ended: str | None = None  # ok | failed (None: not measured to its end)
    error: str | None = None  # why a run failed before it stored a case
    reused: bool | None = None  # whether its layer came from the cache this time

    @property
    def label(self) -> str:
        return self.want.text


@dataclass
class Matrix:
    folder: Path | None  # None until every environment of a new matrix is built
    sweep: state.SweepFile
    entries: list[Entry]
    envs: Path
    installer: str = "auto"
    trust_code: bool = False
    resumed: bool = False  # from a state file: what it names is built only with trust_code
    started_with: str | None = None  # the cache the state file names (only said, never used)
    built: dict[int, Built] = field(default_factory=dict)
    out: Path | None = None  # where a new matrix makes its folder
    name: str = ""  # the sweep's name, in the folder's

    @classmethod
    def start(cls, sweep: str, withs: list[str], out, envs, installer: str, trust_code: bool) -> Matrix:
        from bench.sweep.config import load_sweep

        if len(withs) < 2:
            raise BadInput(None, "--with", "give at least two environments to compare (--with A --with B)")
        wants = [parse_want(w) for w in withs]
        seen: set[str] = set()
        for w in wants:
            if w.text in seen:
                raise BadInput(None, "--with", f"{w.text} is given twice")
            seen.add(w.text)
        file = state.SweepFile.of(sweep)
        name = state.one_device(load_sweep(sweep)).name  # checked before anything is built
        # The folder is made once every environment is built: a version that cannot be
        # installed leaves nothing behind.
        m = cls(None, file, [Entry(w) for w in wants], Path(envs).resolve(), installer, trust_code)
        m.out, m.name = Path(out), name
        return m

    @classmethod
    def resume(cls, folder, envs=None, installer: str | None = None, trust_code: bool = False) -> Matrix:
        """The matrix in `folder`, as its state file says. The cache of environments is
        the command line's (never a folder the file names), and an environment missing
        from it is built only with `trust_code`: building runs the installers of what
        the file names."""
        folder, o = state.load(folder, KIND)
        with state.reading(state.state_path(folder, KIND)):
            sweep = state.SweepFile(Path(o.str("sweep", required=True)), o.str("sweep_sha256", required=True))
            entries = []
            for e in o.objs("environments"):
                entry = Entry(parse_want(e.str("want", required=True, max_len=4096)))
                entry.run = e.str("run", max_len=255)
                state.run_of(folder, len(entries), entry.run)
                entry.ended = e.str("ended", choices=(OK, FAILED))
                entry.error = e.str("error")
                entries.append(entry)
            if len(entries) < 2:
                raise o.bad("environments", "must list at least two")
            m = cls(
                folder,
                sweep,
                entries,
                Path(envs or DEFAULT_ENVS).resolve(),
                installer or o.str("installer", choices=INSTALLERS) or "auto",
                trust_code,
                resumed=True,
            )
        m.started_with = o.str("envs")
        sweep.check(folder)
        return m

    def save(self) -> None:
        state.save(
            self,
            KIND,
            {
                "environments": [
                    {"want": e.want.text, "run": e.run, "ended": e.ended, "error": e.error}
                    for e in self.entries
                ],
            },
        )

    def left(self) -> list[int]:
        """Not measured yet, or whose sweep failed before it stored a run."""
        return [i for i, e in enumerate(self.entries) if e.ended is None or e.run is None]

    def measure(self, say) -> None:
        """Build every layer, then run the sweep in each environment not yet measured."""
        cache = Cache(self.envs, self.installer, say, self.started_with)
        for n, entry in enumerate(self.entries, 1):
            say(f"matrix: environment {n} of {len(self.entries)}: {entry.label}")
            try:
                built = cache.ensure(
                    entry.want.items,
                    (entry.want.text,),
                    entry.label,
                    may_build=not self.resumed or self.trust_code,
                )
                self.built[n - 1] = built
            except InstallFailed as exc:
                raise BadInput(None, "--with", f"{entry.label} could not be installed: {exc}") from None
            entry.reused = built.reused
            if built.reused:
                say(f"matrix: {entry.label}: the cached environment {built.path}")
        if self.folder is None:
            self.folder = state.new_folder(self.out, KIND, self.name)
            self.save()
            say(f"matrix: {self.folder}")
        todo = self.left()
        for step, i in enumerate(todo, 1):
            entry = self.entries[i]
            say(f"matrix: measuring {entry.label} ({step} of {len(todo)} left to measure)")
            stored = state.run_of(self.folder, i, entry.run)
            ran = run_slot(self, i, self.built[i].python, stored, entry)
            entry.run = ran.run.name if ran.measured else None
            entry.ended = OK if ran.status == 0 and ran.measured else FAILED
            entry.error = None if ran.measured else (ran.error or f"vae-bench run exited with {ran.status}")
            self.save()
