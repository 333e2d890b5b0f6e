"""Two stored runs, case by case: which cases got slower, which need more memory,
which stopped fitting. Cases are matched by case_id (their parameters), never by
position. Reads only from the store; `bench.analysis.report` prints the result.

Time: the ratio of medians (new / base) is flagged when it is beyond `factor` and
a Mann-Whitney U test on the stored samples says the difference is not chance, its
p-value adjusted over all the cases of the comparison (Benjamini-Hochberg); with
too few samples for the test, the factor alone decides, and the case says so.
Memory: the change of the run's memory metric peak, flagged beyond the larger of
16 MiB and 2% of the base peak on GPUs (the allocator's peaks repeat to the byte),
64 MiB and 25% on CPUs (a process's peak RSS moves by up to 20% between runs).
Status: ok -> oom or error is always a regression, oom or error -> ok an
improvement.

A case's verdict: `regression` (slower or more memory, and nothing better),
`improvement` (faster or less memory, and nothing worse), `trade-off` (faster but
more memory, or the reverse), `unchanged`, or `untested` (it did not run in both:
oom, error or skipped in either, so there are no figures to compare).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.analysis import significance
from bench.errors import BadInput
from bench.record import layer
from bench.record.run import CaseRecord, RunMeta
from bench.record.store import Run, open_run

GPU_FACTOR = 1.10
# CPU runs on shared machines drift more between runs of the same case (up to 15%
# measured with 5 repeats), so their bar is higher.
CPU_FACTOR = 1.25
MIB = 1024**2
GPU_MEM = (16 * MIB, 0.02)  # floor (bytes), fraction of the base peak
# The peak RSS of one case of configs/cpu.yaml moved by up to 20% (196 MiB of
# about 1 GiB) between seven runs made within half an hour on one machine.
CPU_MEM = (64 * MIB, 0.25)

REGRESSION, IMPROVEMENT, TRADE_OFF = "regression", "improvement", "trade-off"
UNCHANGED, UNTESTED = "unchanged", "untested"
VERDICTS = (REGRESSION, IMPROVEMENT, TRADE_OFF, UNCHANGED, UNTESTED)
NOT_OK = ("oom", "error")


def _get(*path: str) -> Callable[[RunMeta], Any]:
    def read(meta: RunMeta) -> Any:
        value: Any = getattr(meta, path[0])
        for key in path[1:]:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return read


def _layer(meta: RunMeta) -> str | None:
    """What a run's layered environment was asked to hold (vae-bench matrix, bisect)."""
    found = layer.from_environment(meta.environment)
    return None if found is None else " + ".join(found.want)


# What differs between two runs' environments, in the order it is reported.
ENVIRONMENT: list[tuple[str, Callable[[RunMeta], Any]]] = [
    ("device", _get("device", "name")),
    ("device label", _get("device", "label")),  # one card in two setups: the setups differ
    ("driver", _get("device", "nvml_driver")),
    ("torch", _get("environment", "torch")),
    ("CUDA runtime", _get("environment", "torch_cuda")),
    ("cuDNN", lambda m: _get("device", "cudnn")(m) or _get("environment", "cudnn")(m)),
    ("diffusers", _get("environment", "diffusers")),
    ("layered environment", lambda m: _layer(m)),
    ("CPU threads", _get("device", "threads")),
    ("CPU affinity", _get("device", "affinity")),
    ("OMP_WAIT_POLICY", _get("device", "openmp", "OMP_WAIT_POLICY")),
    ("OMP_NUM_THREADS", _get("environment", "omp_num_threads")),
    ("PYTORCH_CUDA_ALLOC_CONF", _get("environment", "pytorch_cuda_alloc_conf")),
    ("cudnn.benchmark", _get("environment", "cudnn_benchmark")),
]


@dataclass
class CaseDiff:
    case_id: str
    label: str
    base_status: str
    new_status: str
    base_time: float | None = None
    new_time: float | None = None
    ratio: float | None = None
    test: significance.MannWhitney | None = None
    time_verdict: str = "n/a"  # slower | faster | same | n/a
    metric: str | None = None
    base_mem: int | None = None
    new_mem: int | None = None
    mem_delta: int | None = None
    mem_pct: float | None = None
    memory_verdict: str = "n/a"  # more | less | same | n/a
    verdict: str = UNCHANGED  # of the case: one of VERDICTS
    reasons: list[str] = field(default_factory=list)
    base_throttled: str | None = None  # why the GPU was held back while the case ran, if it was
    new_throttled: str | None = None
    base_drift: float | None = None  # where that run's timed calls were not stationary
    new_drift: float | None = None

    @property
    def status(self) -> str:
        if self.base_status == self.new_status:
            return self.new_status
        return f"{self.base_status} -> {self.new_status}"

    @property
    def few_samples(self) -> bool:
        """Both timed, but with too few samples for the test: the factor alone decided."""
        return self.test is not None and not self.test.testable


@dataclass
class Comparison:
    base: Run
    new: Run
    factor: float
    factor_source: str
    alpha: float
    mem_floor: int
    mem_fraction: float
    mem_source: str
    environment: list[tuple[str, Any, Any]]
    cases: list[CaseDiff]
    only_base: list[CaseRecord]
    only_new: list[CaseRecord]

    def _with(self, verdict: str) -> list[CaseDiff]:
        return [c for c in self.cases if c.verdict == verdict]

    @property
    def regressions(self) -> list[CaseDiff]:
        return self._with(REGRESSION)

    @property
    def improvements(self) -> list[CaseDiff]:
        return self._with(IMPROVEMENT)

    @property
    def trade_offs(self) -> list[CaseDiff]:
        return self._with(TRADE_OFF)

    def count(self, verdict: str) -> int:
        return len(self._with(verdict))

    @property
    def few_samples(self) -> list[CaseDiff]:
        return [c for c in self.cases if c.few_samples]

    def failed(self, fail_on: str = REGRESSION) -> bool:
        """A regression; with fail_on trade-off, a trade-off too."""
        return bool(self.regressions) or (fail_on == TRADE_OFF and bool(self.trade_offs))

    @property
    def tested(self) -> int:
        """How many cases the significance test was run on, together."""
        return sum(1 for c in self.cases if c.test is not None and c.test.testable)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def defaults(gpu: bool) -> tuple[float, int, float, str]:
    """factor, memory floor, memory fraction, and how to name them."""
    if gpu:
        return GPU_FACTOR, *GPU_MEM, "default for GPU runs"
    return CPU_FACTOR, *CPU_MEM, "default for CPU runs"


def beyond(ratio: float, factor: float) -> bool:
    """A ratio of medians that counts as a change (compare and history share it)."""
    return ratio >= factor or ratio <= 1 / factor


def check_factor(factor: float) -> float:
    if not math.isfinite(factor) or factor <= 1:
        raise BadInput(None, "--factor", f"must be a number above 1 (got {factor})")
    return factor


def compare_runs(
    base_dir: str | Path,
    new_dir: str | Path,
    factor: float | None = None,
    alpha: float = significance.ALPHA,
    mem_floor: int | None = None,
    mem_fraction: float | None = None,
) -> Comparison:
    """Load two run folders and compare them; bad input for a run compared with
    itself, a missing or corrupt run, or runs with no case in common."""
    if Path(base_dir).resolve() == Path(new_dir).resolve():
        raise BadInput(new_dir, None, "is the same run folder as the base; compare two different runs")
    base = open_run(base_dir, strict=True, need_cases=True)
    new = open_run(new_dir, strict=True, need_cases=True)
    return compare(base, new, factor, alpha, mem_floor, mem_fraction)


def compare(
    base: Run,
    new: Run,
    factor: float | None = None,
    alpha: float = significance.ALPHA,
    mem_floor: int | None = None,
    mem_fraction: float | None = None,
) -> Comparison:
    """Two runs already read, compared as compare_runs does."""
    if base.run_id == new.run_id:
        raise BadInput(
            new.path,
            "run_id",
            f"{new.run_id} is the base run itself (a copy of it); compare two different runs",
        )
    # GPU defaults only when both runs are on a GPU; otherwise the CPU's looser ones.
    default_factor, default_floor, default_fraction, default_source = defaults(base.is_gpu and new.is_gpu)
    source = mem_source = default_source
    if factor is None:
        factor = default_factor
    else:
        factor, source = check_factor(factor), "given"
    if mem_floor is None and mem_fraction is None:
        mem_floor, mem_fraction = default_floor, default_fraction
    else:
        mem_floor = default_floor if mem_floor is None else mem_floor
        mem_fraction = default_fraction if mem_fraction is None else mem_fraction
        if not all(math.isfinite(x) and x >= 0 for x in (mem_floor, mem_fraction)):
            raise BadInput(None, "--mem-floor/--mem-percent", "must be finite numbers >= 0")
        mem_source = "given"

    base_by_id = {r.case_id: r for r in base.records}
    new_by_id = {r.case_id: r for r in new.records}
    common = [cid for cid in base_by_id if cid in new_by_id]
    if not common:
        raise BadInput(
            new.path, None, f"has no case in common with {base.path}: were they made from the same sweep?"
        )
    pairs = [(base_by_id[cid], new_by_id[cid]) for cid in common]
    cases = diff_cases(pairs, factor, alpha, mem_floor, mem_fraction)
    return Comparison(
        base=base,
        new=new,
        factor=factor,
        factor_source=source,
        alpha=alpha,
        mem_floor=mem_floor,
        mem_fraction=mem_fraction,
        mem_source=mem_source,
        environment=environment_differences(base.meta, new.meta),
        cases=cases,
        only_base=[r for cid, r in base_by_id.items() if cid not in new_by_id],
        only_new=[r for cid, r in new_by_id.items() if cid not in base_by_id],
    )


def environment_differences(base_meta: RunMeta, new_meta: RunMeta) -> list[tuple[str, Any, Any]]:
    out = []
    for what, read in ENVIRONMENT:
        a, b = read(base_meta), read(new_meta)
        if a != b:
            out.append((what, a, b))
    return out


def diff_case(
    base: CaseRecord,
    new: CaseRecord,
    factor: float,
    alpha: float = significance.ALPHA,
    mem_floor: int = GPU_MEM[0],
    mem_fraction: float = GPU_MEM[1],
) -> CaseDiff:
    """One case compared alone."""
    return diff_cases([(base, new)], factor, alpha, mem_floor, mem_fraction)[0]


def diff_cases(
    pairs: list[tuple[CaseRecord, CaseRecord]],
    factor: float,
    alpha: float = significance.ALPHA,
    mem_floor: int = GPU_MEM[0],
    mem_fraction: float = GPU_MEM[1],
) -> list[CaseDiff]:
    """Every (base, new) pair of one comparison: the time tests of all cases that ran
    in both are judged together (`significance.control_fdr`)."""
    diffs = [
        CaseDiff(
            case_id=b.case_id,
            label=b.label,
            base_status=b.status,
            new_status=n.status,
            base_throttled=b.throttled,
            new_throttled=n.throttled,
            base_drift=b.time.drift if b.drifting else None,
            new_drift=n.time.drift if n.drifting else None,
        )
        for b, n in pairs
    ]
    tests = []
    for d, (b, n) in zip(diffs, pairs, strict=True):
        both_ran = d.base_status == d.new_status == "ok"
        d.base_time, d.new_time = (b.median, n.median) if both_ran else (None, None)
        timed = bool(d.base_time) and d.new_time is not None
        tests.append(significance.compare_samples(b.samples, n.samples, alpha) if timed else None)
    for d, (b, n), test in zip(diffs, pairs, significance.control_fdr(tests, alpha), strict=True):
        if d.base_status == "ok" and d.new_status in NOT_OK:
            d.verdict = REGRESSION
            d.reasons.append(d.status)
        elif d.base_status in NOT_OK and d.new_status == "ok":
            d.verdict = IMPROVEMENT
            d.reasons.append(d.status)
        elif d.base_status != "ok" or d.new_status != "ok":
            d.verdict = UNTESTED
        else:
            _judge_time(d, test, factor)
            _diff_memory(d, b, n, mem_floor, mem_fraction)
            worse = d.time_verdict == "slower" or d.memory_verdict == "more"
            better = d.time_verdict == "faster" or d.memory_verdict == "less"
            d.verdict = {
                (True, True): TRADE_OFF,
                (True, False): REGRESSION,
                (False, True): IMPROVEMENT,
                (False, False): UNCHANGED,
            }[worse, better]
    return diffs


def _judge_time(d: CaseDiff, test: significance.MannWhitney | None, factor: float) -> None:
    if test is None:
        return
    d.ratio = d.new_time / d.base_time
    d.test = test
    if beyond(d.ratio, factor) and (test.significant or not test.testable):
        d.time_verdict = "slower" if d.ratio > 1 else "faster"
        d.reasons.append(f"time x{d.ratio:.2f}")
    else:
        d.time_verdict = "same"


def _diff_memory(d: CaseDiff, base: CaseRecord, new: CaseRecord, floor: int, fraction: float) -> None:
    d.metric = base.metric
    if new.metric != d.metric:
        d.reasons.append(f"memory metrics differ ({d.metric} vs {new.metric}): not compared")
        return
    d.base_mem, d.new_mem = base.peak, new.peak
    if d.base_mem is None or d.new_mem is None:
        return
    d.mem_delta = d.new_mem - d.base_mem
    d.mem_pct = d.mem_delta / d.base_mem * 100 if d.base_mem else None
    threshold = max(floor, fraction * abs(d.base_mem))
    if abs(d.mem_delta) > threshold:
        d.memory_verdict = "more" if d.mem_delta > 0 else "less"
        d.reasons.append(f"memory {d.mem_delta / MIB:+.0f} MiB")
    else:
        d.memory_verdict = "same"
