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
from bench.versions.layers import Cache, InstallFailed
from bench.versions.sweeps import Interrupted, run_sweep
from bench.versions.wants import Item

KIND = "bisect"
GOOD, BAD, SKIPPED = "good", "bad", "skipped"
PACKAGE, REPO = "package", "repo"
ASPECTS = ("time", "memory", "status")
EXPORTS = ".exports"


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
    runs: dict[int, Run] = field(default_factory=dict)

    @classmethod
    def start(cls, sweep, good, bad, package, repo, out, envs, installer, case, factor, trust_code):
        from bench.sweep.config import load_sweep

        if (package is None) == (repo is None):
            raise BadInput(
                None, "--package/--repo", "give one: --package NAME (releases) or --repo PATH (commits)"
            )
        file = state.SweepFile.of(sweep)
        name = load_sweep(sweep).name
        if repo is not None:
            source = str(Path(repo).resolve())
            refs = candidates.between_commits(Path(source), good, bad)
        else:
            source = package
            refs = candidates.between_releases(candidates.releases(package), good, bad)
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
        folder, o = state.load(folder, KIND)
        with state.reading(state.state_path(folder, KIND)):
            found = [
                Candidate(
                    c.str("ref", required=True, max_len=200),
                    c.str("run", max_len=255),
                    c.str("verdict", choices=(GOOD, BAD, SKIPPED)),
                    c.str("why"),
                )
                for c in o.objs("candidates")
            ]
            if len(found) < 2:
                raise o.bad("candidates", "must list good and bad at least")
            for c in found:
                state.run_of(folder, c.run)
            signature = None
            if o.d.get("signature") is not None:
                signature = [
                    (s.str("case_id", required=True), s.str("aspect", required=True, choices=ASPECTS))
                    for s in o.objs("signature")
                ]
            b = cls(
                folder,
                state.SweepFile(Path(o.str("sweep", required=True)), o.str("sweep_sha256", required=True)),
                o.str("mode", required=True, choices=(PACKAGE, REPO)),
                o.str("source", required=True),
                found,
                Path(envs or o.str("envs", required=True)).resolve(),
                installer or o.str("installer", choices=("auto", "uv", "pip")) or "auto",
                o.str("case", max_len=1000),
                o.num("factor", lo=1.0, hi=1e6),
                signature,
                trust_code,
            )
        b.sweep.check(folder)
        return b

    def save(self) -> None:
        state.save(
            self.folder,
            KIND,
            self.sweep,
            self.envs,
            self.installer,
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
        cache = Cache(self.envs, self.installer, say)
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
        stored = state.run_of(self.folder, c.run)
        if stored is not None and open_run(stored).meta.status == "complete":
            return self._check(i, open_run(stored, strict=True))  # stopped after its run ended
        exports = self.folder / EXPORTS
        try:
            if self.mode == PACKAGE:
                items = (Item(f"{self.source}=={c.ref}", self.source),)
                built = cache.ensure(items, (items[0].text,), self._name(c))
            else:
                built = cache.cached((Item(c.ref, None, key=f"git:{c.ref}"),))
                if built is None:
                    path = candidates.export(Path(self.source), c.ref, exports)
                    items = (Item(str(path), None, path, key=f"git:{c.ref}"),)
                    built = cache.ensure(items, (f"{self.source}@{c.ref}",), self._name(c), c.ref)
        except InstallFailed as exc:
            return f"could not be installed: {exc}"
        finally:
            shutil.rmtree(exports, ignore_errors=True)
        try:
            ran = run_sweep(
                built.python,
                str(self.sweep.path),
                self.folder / state.RUNS,
                self.trust_code,
                state.run_of(self.folder, c.run),
            )
        except Interrupted as stop:
            if stop.run is not None:
                c.run = stop.run.name
            self.save()
            raise
        if ran.run is None:
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

    def _run(self, i: int) -> Run:
        if i not in self.runs:
            self.runs[i] = open_run(state.run_of(self.folder, self.candidates[i].run), strict=True)
        return self.runs[i]

    def _chosen(self, run: Run) -> list:
        if self.case is None:
            return list(run.records)
        return [r for r in run.records if self.case.lower() in r.label.lower()]

    def diffs(self, i: int) -> list:
        """Candidate i's chosen cases against good's, as compare judges them."""
        good, new = self._run(0), self._run(i)
        base = {r.case_id: r for r in self._chosen(good)}
        if not base:
            labels = ", ".join(r.label for r in good.records[:5])
            raise BadInput(None, "--case", f"{shown(self.case)} matches no case of the sweep ({labels}, ...)")
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

    # -- the answer -----------------------------------------------------------------

    def answer(self) -> dict:
        """The first bad candidate (or the range skipped candidates leave), with the
        regressed cases' figures at the last good and the first bad one."""
        lo, hi = self.bounds()
        between = [self.candidates[i] for i in range(lo + 1, hi)]
        good_run, bad_run = self._run(lo), self._run(hi)
        cases = []
        for case_id in dict.fromkeys(c for c, _ in self.signature or []):
            g = next((r for r in good_run.records if r.case_id == case_id), None)
            b = next((r for r in bad_run.records if r.case_id == case_id), None)
            if g is None or b is None:
                continue
            cases.append(
                {
                    "case": g.label,
                    "aspects": [a for c, a in self.signature or [] if c == case_id],
                    "good": {"status": g.status, "median_s": g.median, "peak_bytes": g.peak},
                    "bad": {"status": b.status, "median_s": b.median, "peak_bytes": b.peak},
                }
            )
        return {
            "folder": str(self.folder),
            "first_bad": None if between else self.candidates[hi].ref,
            "last_good": self.candidates[lo].ref,
            "first_bad_is_one_of": [c.ref for c in between] + [self.candidates[hi].ref] if between else None,
            "cases": cases,
            "measured": [
                {"ref": c.ref, "verdict": c.verdict, "why": c.why, "run": c.run}
                for c in self.candidates
                if c.verdict is not None
            ],
        }


def render(b: Bisect, answer: dict) -> str:
    from bench.analysis.compare import MIB
    from bench.analysis.summary import seconds

    def figures(side: dict) -> str:
        if side["status"] != "ok":
            return side["status"]
        time = seconds(side["median_s"]) + " s" if side["median_s"] is not None else "n/a"
        mem = f"{side['peak_bytes'] / MIB:.0f} MiB" if side["peak_bytes"] is not None else "n/a"
        return f"{time}, {mem}"

    name = (lambda ref: ref) if b.mode == REPO else (lambda ref: f"{b.source} {ref}")
    lines = []
    if answer["first_bad"] is not None:
        lines.append(f"first bad: {name(answer['first_bad'])}")
    else:
        lines.append("first bad: one of " + ", ".join(name(r) for r in answer["first_bad_is_one_of"]))
        lines.append("(the candidates between were skipped, so the answer is a range)")
    lines.append(f"last good: {name(answer['last_good'])}")
    for case in answer["cases"]:
        lines.append(
            f"  {case['case']} ({', '.join(case['aspects'])}): "
            f"{figures(case['good'])} -> {figures(case['bad'])}"
        )
    for m in answer["measured"]:
        if m["verdict"] == SKIPPED:
            lines.append(f"skipped: {name(m['ref'])}: {m['why']}")
    steps = sum(1 for m in answer["measured"] if m["verdict"] != SKIPPED)
    lines.append(f"{steps} candidate(s) measured; their runs are in {b.folder / state.RUNS}")
    return "\n".join(lines)
