"""What meta.json says about where a run was made. Read in the parent process
without initializing CUDA; the worker adds what only a CUDA context can tell."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import bench
from bench.measure.nvml import Nvml
from bench.record import layer

ROOT = Path(__file__).resolve().parents[2]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """The commit of this vae-bench checkout (with -dirty for local changes), or None
    when the folder above the package is not the top of one: an unpacked source tree
    or a virtualenv inside another repository would name that repository's commit."""
    try:
        top = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT.resolve():
            return None
        if 'name = "vae-bench"' not in (ROOT / "pyproject.toml").read_text(errors="replace"):
            return None
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def capture(device: str) -> dict:
    import torch

    env = {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "diffusers": _version("diffusers"),
        "huggingface_hub": _version("huggingface_hub"),
        "vae_bench": bench.__version__,
        "git_commit": _git_commit(),
        "pytorch_cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }
    if device.startswith("cuda"):
        env["cudnn"] = torch.backends.cudnn.version()
    in_layer = layer.current()
    if in_layer is not None:  # vae-bench matrix or bisect: which versions this run had
        env["layer"] = in_layer.as_json()
    return env


def cpu_name() -> str:
    """The processor's model name, as tables name the device of a CPU run."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _visible_handle(nv: Nvml, index: int):
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return nv.handle(index=index)
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if index >= len(entries):
        return None
    entry = entries[index]
    if entry.isdigit():
        return nv.handle(index=int(entry))
    if entry.lower().startswith("gpu-"):
        return nv.handle(uuid=entry)
    return None  # MIG instances and short UUID prefixes: the worker names the device


def gpu_processes(index: int) -> list[dict] | str:
    """The processes NVML sees using one GPU (pid, bytes used), or why it cannot say."""
    nv = Nvml()
    h = _visible_handle(nv, index)
    return nv.processes(h) if h is not None else f"not read: {nv.error or 'no NVML handle'}"


def gpu_summary(index: int) -> dict:
    """Name, memory and the other facts of one GPU, from NVML alone.

    NVML numbers every device in PCI order and ignores CUDA_VISIBLE_DEVICES; torch
    counts only the visible ones, in PCI order under CUDA_DEVICE_ORDER=PCI_BUS_ID.
    The worker later confirms the device by UUID.
    """
    nv = Nvml()
    info = nv.device_info(_visible_handle(nv, index))
    if not info and nv.error:
        info["warning"] = nv.error
    return info


def host_load(device: str, when: str, at: str) -> dict:
    """How busy the host is, sampled at a sweep's start, each resume and its end: the
    load average, the CPUs, the other processes running at that instant (in state R in
    /proc, this process and its workers left out), and on a GPU the processes NVML sees
    using it. At the end the load average still holds the sweep's own work."""
    sample: dict = {
        "at": when,
        "time": at,
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "other_running": _others_running(),
    }
    if device.startswith("cuda:"):
        seen = gpu_processes(int(device.split(":")[1]))
        ours = _our_tree()
        sample["gpu_processes"] = (
            [p for p in seen if p.get("pid") not in ours] if isinstance(seen, list) else seen
        )
    return sample


def _proc_stats() -> dict[int, tuple[str, int]] | None:
    """pid -> (state, parent pid) of every process /proc lists; None without /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    stats = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            stats[int(entry.name)] = (fields[0], int(fields[1]))
    return stats


def _our_tree(stats: dict[int, tuple[str, int]] | None = None) -> set[int]:
    stats = stats if stats is not None else (_proc_stats() or {})
    ours = {os.getpid()}
    grew = True
    while grew:
        more = {pid for pid, (_, ppid) in stats.items() if ppid in ours} - ours
        ours |= more
        grew = bool(more)
    return ours


def _others_running() -> int | None:
    stats = _proc_stats()
    if stats is None:
        return None
    ours = _our_tree(stats)
    return sum(1 for pid, (state, _) in stats.items() if state == "R" and pid not in ours)
