"""How many threads a worker computes with, and how they wait.

torch's intra-op pool is sized by default from the machine's cores, not from the CPUs
this process may run on (its affinity mask: taskset, a container's cpuset, a batch
scheduler), so a worker held to two CPUs of sixteen would run sixteen threads on two.
`apply` sizes it from the affinity unless the sweep (`threads`) or the user
(OMP_NUM_THREADS) said otherwise, and says what it did, for meta.json.

OpenMP threads that spin while they wait for work (libgomp's default when it thinks the
cores are its own) take the cores other processes need, and are then descheduled while
holding up the rest: a CPU sweep on a shared 2-core host was seen 7.6 times slower per
call than on the quiet one, far beyond the share of cores it lost, and on this project's
2-core test machine passive waiting made calls 21 to 31% faster. `CPU_ENV` makes them
sleep instead; libgomp reads it once, as torch loads, so it must be in the environment
the workers' server starts with (bench.sweep.runner), and never overrides the user's.
"""

from __future__ import annotations

import os
from typing import Any

# Set for CPU runs where the user has not set them.
CPU_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
# The environment variables that steer the OpenMP and MKL runtimes torch may use.
PREFIXES = ("OMP_", "GOMP_", "KMP_", "MKL_")


def runtime_env() -> dict[str, str]:
    """The OpenMP and MKL settings of this process's environment."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(PREFIXES)}


def cpu_list(cpus: set[int]) -> str:
    """`0-3,8`: CPU numbers as the kernel writes a cpuset."""
    out, ordered = [], sorted(cpus)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def wanted(threads: int | str) -> tuple[int, str]:
    """The thread count to use and where it came from: the sweep's `threads`, else the
    user's OMP_NUM_THREADS (a positive integer), else the CPUs of the affinity mask."""
    if threads != "auto":
        return int(threads), "sweep"
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given), "OMP_NUM_THREADS"
    return len(affinity()), "affinity"


def apply(threads: int | str) -> dict[str, Any]:
    """Set this process's intra-op threads; what is in force now, as meta.json says it."""
    import torch

    count, source = wanted(threads)
    torch.set_num_threads(count)
    return {
        "threads": torch.get_num_threads(),
        "threads_from": source,
        "affinity": cpu_list(affinity()),
        "openmp": runtime_env(),
    }
