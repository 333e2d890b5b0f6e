"""vae-bench bisect: the first release or commit between a good and a bad one at which
a sweep's chosen cases regress.

Good and bad are measured first. Compared as `compare` compares two runs (the time
ratio beyond the factor with a significant Mann-Whitney U test, memory beyond its
floor, ok -> oom or error), bad's regressions against good are the regression being
looked for: (case, time | memory | status) pairs. When there are none, it does not
reproduce and the bisect stops. Otherwise each step measures the candidate nearest
the middle of the range still open, and calls it bad when any of those pairs is worse
against good, else good. A candidate that cannot be installed, or whose sweep does
not measure the chosen cases, is skipped (as `git bisect skip`) and a neighbour is
taken. Every step is saved in bisect.json before the next begins; --resume finishes
an interrupted candidate's run and measures no candidate twice."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bench.analysis.compare import REGRESSION, defaults, diff_cases
from bench.errors import BadInput, shown
from bench.record.store import Run, open_run
from bench.versions import candidates, state
from bench.versions.layers import DEFAULT_ENVS, INSTALLERS, Cache, InstallFailed
from bench.versions.sweeps import run_slot
from bench.versions.wants import Item

KIND = "bisect"
GOOD, BAD, SKIPPED = "good", "bad", "skipped"
PACKAGE, REPO = "package", "repo"
ASPECTS = ("time", "memory", "status")
EXPORTS = ".exports"


def _case_is_planned(sweep, case: str) -> None:
    """--case must pick at least one case the sweep plans (checked before a run)."""
    from bench.sweep.cases import expand

    labels = [c.label for c in expand(sweep, sweep.specs())]
    if not any(case.lower() in label.lower() for label in labels):
        raise BadInput(
            None, "--case", f"{shown(case)} is in no case of the sweep ({', '.join(labels[:4])}, ...)"
        )


class CannotBisect(Exception):
    """Good or bad could not be measured, or they do not differ: one line why."""


@dataclass
class Candidate:
    ref: str  # a release, or a full commit
    run: str | None = None  # its run folder's name in runs/
    verdict: str | None = None  # good | bad | skipped
    why: str | None = None  # why it was skipped


@dataclass
class Bisect:
    folder: Path
    sweep: state.SweepFile
    mode: str
    source: str  # the package name, or the checkout's path
    candidates: list[Candidate]
    envs: Path
    installer: str = "auto"
    case: str | None = None
    factor: float | None = None
    signature: list[tuple[str, str]] | None = None  # (case_id, aspect) that regressed at bad
    trust_code: bool = False  # the command line's, never stored
    resumed: bool = False  # from a state file: what it names is built only with trust_code
    started_with: str | None = None  # the cache the state file names (only said, never used)
    runs: dict[int, Run] = field(default_factory=dict)

    @classmethod
    def start(cls, sweep, good, bad, package, repo, out, envs, installer, case, factor, trust_code):
        from bench.sweep.config import load_sweep

        if (package is None) == (repo is None):
            raise BadInput(
                None, "--package/--repo", "give one: --package NAME (releases) or --repo PATH (commits)"
            )
        file = state.SweepFile.of(sweep)
        described = state.one_device(load_sweep(sweep))
        if case is not None:
            _case_is_planned(described, case)
        if repo is not None:
            source = str(Path(repo).resolve())
            refs = candidates.between_commits(Path(source), good, bad)
        else:
            source = candidates.package_name(package)
            refs = candidates.between_releases(candidates.releases(source), good, bad)
        name = described.name
        folder = state.new_folder(out, KIND, name)
        b = cls(
            folder,
            file,
            REPO if repo else PACKAGE,
            source,
            [Candidate(r) for r in refs],
            Path(envs).resolve(),
        )
        b.installer, b.case, b.factor, b.trust_code = installer, case, factor, trust_code
        b.save()
        return b

    @classmethod
    def resume(cls, folder, envs=None, installer=None, trust_code=False) -> Bisect:
        """The bisect in `folder`, as bisect.json says, checked as hostile input: refs of
        the mode's shape, verdicts that make a search (good first, bad last, a run behind
        each), run names inside the folder. Environments come from the command line's
        cache and one missing there is built only with `trust_code`."""
        folder, o = state.load(folder, KIND)
        with state.reading(state.state_path(folder, KIND)):
            mode = o.str("mode", required=True, choices=(PACKAGE, REPO))
            ref_re = candidates.SHA_RE if mode == REPO else candidates.VERSION_RE
            found = [
                Candidate(
                    c.str("ref", required=True, max_len=200, pattern=ref_re),
                    c.str("run", max_len=255),
                    c.str("verdict", choices=(GOOD, BAD, SKIPPED)),
                    c.str("why"),
                )
                for c in o.objs("candidates")
            ]
            if len(found) < 2:
                raise o.bad("candidates", "must list good and bad at least")
            for n, c in enumerate(found):
                state.run_of(folder, n, c.run)
                if c.verdict in (GOOD, BAD) and c.run is None:
                    raise o.bad(f"candidates[{n}]", f"is {c.verdict} without a run")
            if found[0].verdict not in (None, GOOD) or found[-1].verdict not in (None, BAD):
                raise o.bad("candidates", "must begin with good and end with bad")
            signature = None
            if o.d.get("signature") is not None:
                signature = [
                    (s.str("case_id", required=True), s.str("aspect", required=True, choices=ASPECTS))
                    for s in o.objs("signature")
                ]
            if (signature is not None) != (found[-1].verdict == BAD) or signature == []:
                raise o.bad("signature", "must be given, not empty, exactly when bad has been measured")
            source = o.str("source", required=True)
            if mode == PACKAGE:
                candidates.package_name(source)
            elif not Path(source).is_absolute():
                raise o.bad("source", "must be the absolute path of a checkout")
            b = cls(
                folder,
                state.SweepFile(Path(o.str("sweep", required=True)), o.str("sweep_sha256", required=True)),
                mode,
                source,
                found,
                Path(envs or DEFAULT_ENVS).resolve(),
                installer or o.str("installer", choices=INSTALLERS) or "auto",
                o.str("case", max_len=1000),
                o.num("factor", lo=1.0, hi=1e6),
                signature,
                trust_code,
                resumed=True,
            )
        b.started_with = o.str("envs")
        b.sweep.check(folder)
        return b

    def save(self) -> None:
        state.save(
            self,
            KIND,
            {
                "mode": self.mode,
                "source": self.source,
                "case": self.case,
                "factor": self.factor,
                "signature": None
                if self.signature is None
                else [{"case_id": c, "aspect": a} for c, a in self.signature],
                "candidates": [c.__dict__ for c in self.candidates],
            },
        )

    # -- the search ---------------------------------------------------------------

    def bounds(self) -> tuple[int, int]:
        """The last good and the first bad candidate known, as indices."""
        hi = min(i for i, c in enumerate(self.candidates) if c.verdict == BAD)
        lo = max(i for i, c in enumerate(self.candidates[:hi]) if c.verdict == GOOD)
        return lo, hi

    def next_index(self) -> int | None:
        lo, hi = self.bounds()
        open_ = [i for i in range(lo + 1, hi) if self.candidates[i].verdict is None]
        if not open_:
            return None
        middle = (lo + hi) / 2
        return min(open_, key=lambda i: (abs(i - middle), i))

    def steps_left(self) -> int:
        lo, hi = self.bounds()
        return math.ceil(math.log2(hi - lo)) if hi - lo > 1 else 0

    def bisect(self, say) -> None:
        cache = Cache(self.envs, self.installer, say, self.started_with)
        last = len(self.candidates) - 1
        for i, side in ((0, "good"), (last, "bad")):
            c = self.candidates[i]
            if c.verdict is None:
                say(f"bisect: measuring {side} {self._name(c)}")
                problem = self._measure(cache, i)
                if problem:
                    raise CannotBisect(f"{side} {self._name(c)} could not be measured: {problem}")
                c.verdict = GOOD if i == 0 else None
                self.save()
        if self.signature is None:
            self.signature = self._regressions(last)
            if not self.signature:
                raise CannotBisect(self._not_reproduced(last))
            self.candidates[last].verdict = BAD
            self.save()
        while (i := self.next_index()) is not None:
            c = self.candidates[i]
            lo, hi = self.bounds()
            say(
                f"bisect: measuring {self._name(c)} ({hi - lo - 1} candidate(s) between "
                f"{self._name(self.candidates[lo])} and {self._name(self.candidates[hi])}, "
                f"about {self.steps_left()} step(s) left)"
            )
            problem = self._measure(cache, i)
            if problem:
                c.verdict, c.why = SKIPPED, problem
                say(f"bisect: skipped {self._name(c)}: {problem}")
            else:
                c.verdict = BAD if self._worse(i) else GOOD
                say(f"bisect: {self._name(c)} is {c.verdict}")
            self.save()

    def _name(self, c: Candidate) -> str:
        return c.ref[:12] if self.mode == REPO else f"{self.source} {c.ref}"

    def _measure(self, cache: Cache, i: int) -> str | None:
        """Measure candidate i (or finish its run); None when its run measured the
        chosen cases, else why it could not be."""
        c = self.candidates[i]
        stored = state.run_of(self.folder, i, c.run)
        if stored is not None and open_run(stored).meta.status == "complete":
            return self._check(i, open_run(stored, strict=True))  # stopped after its run ended
        exports = self.folder / EXPORTS
        may_build = not self.resumed or self.trust_code
        try:
            if self.mode == PACKAGE:
                items = (Item(f"{self.source}=={c.ref}", self.source),)
                built = cache.ensure(items, (items[0].text,), self._name(c), may_build=may_build)
            else:
                built = cache.cached((Item(c.ref, None, key=f"git:{c.ref}"),))
                if built is None:
                    path = candidates.export(Path(self.source), c.ref, exports)
                    items = (Item(str(path), None, path, key=f"git:{c.ref}"),)
                    built = cache.ensure(
                        items, (f"{self.source}@{c.ref}",), self._name(c), c.ref, may_build=may_build
                    )
        except (InstallFailed, candidates.ExportFailed) as exc:
            return f"could not be installed: {exc}"
        finally:
            shutil.rmtree(exports, ignore_errors=True)
        ran = run_slot(self, i, built.python, stored, c)
        if not ran.measured:
            return f"its sweep did not run: {ran.error or f'exit status {ran.status}'}"
        c.run = ran.run.name
        self.save()
        return self._check(i, open_run(ran.run, strict=True))

    def _check(self, i: int, run: Run) -> str | None:
        self.runs[i] = run
        chosen = self._chosen(run)
        failed = [r.label for r in chosen if r.status == "error"]
        if not chosen:
            return "its run holds none of the chosen cases"
        # at bad, a case that fails may be the regression itself (ok -> error)
        if (
            failed
            and i != len(self.candidates) - 1
            and not any(a == "status" for _, a in self.signature or [])
        ):
            return f"{len(failed)} chosen case(s) ended in error: {failed[0]}"
        return None

    def run(self, i: int) -> Run:
        if i not in self.runs:
            self.runs[i] = open_run(state.run_of(self.folder, i, self.candidates[i].run), strict=True)
        return self.runs[i]

    def _chosen(self, run: Run) -> list:
        if self.case is None:
            return list(run.records)
        return [r for r in run.records if self.case.lower() in r.label.lower()]

    def diffs(self, i: int) -> list:
        """Candidate i's chosen cases against good's, as compare judges them."""
        good, new = self.run(0), self.run(i)
        base = {r.case_id: r for r in self._chosen(good)}
        pairs = [(base[r.case_id], r) for r in self._chosen(new) if r.case_id in base]
        factor, floor, fraction, _ = defaults(good.is_gpu and new.is_gpu)
        return diff_cases(pairs, self.factor or factor, mem_floor=floor, mem_fraction=fraction)

    def _regressions(self, i: int) -> list[tuple[str, str]]:
        found = []
        for d in self.diffs(i):
            if d.verdict == REGRESSION and d.base_status == "ok" and d.new_status != "ok":
                found.append((d.case_id, "status"))
            if d.time_verdict == "slower":
                found.append((d.case_id, "time"))
            if d.memory_verdict == "more":
                found.append((d.case_id, "memory"))
        return found

    def _worse(self, i: int) -> bool:
        return bool(set(self._regressions(i)) & set(self.signature or []))

    def _not_reproduced(self, last: int) -> str:
        diffs = self.diffs(last)
        said = "; ".join(
            f"{d.label}: {d.verdict}" + (f" (time x{d.ratio:.2f})" if d.ratio is not None else "")
            for d in diffs[:4]
        )
        return (
            f"the regression does not reproduce: bad {self._name(self.candidates[last])} is not worse than "
            f"good {self._name(self.candidates[0])} in any chosen case ({said})"
        )
