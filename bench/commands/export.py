"""vae-bench export: the cases of runs as one flat table, CSV or parquet."""

from __future__ import annotations

from bench.commands import EXIT_OK, add_runs_dir_argument, run_path
from bench.errors import BadInput

HELP = "write the cases of runs as one flat table: CSV, or parquet (with pyarrow)"
DESCRIPTION = (
    "One row per case of every run named, in flat named columns: the case, its status, "
    "time in seconds (time_s.*) and memory in bytes (mem.*), clocks, and on each row its "
    "run's id, device, label and package versions. Lists (samples, tiling, variant) are "
    "JSON text. In Python the same table is `bench.open_run(path).frame()`."
)
# What each row carries of its run's meta.json, beside the case's own fields.
RUN_COLUMNS = ("device_name", "device_label", "torch", "diffusers", "vae_bench")


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="runs: folders, ids, latest, previous")
    add_runs_dir_argument(p)
    p.add_argument("--csv", metavar="PATH", help="write a CSV file here")
    p.add_argument("--parquet", metavar="PATH", help="write a parquet file here (needs pyarrow)")
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="the files written (default: text)"
    )


def frame(paths: list[str]):
    """The runs' cases as one pandas DataFrame (bench.record.store.Run.frame, with the
    run's facts on every row and lists as JSON text)."""
    import json

    import pandas as pd

    from bench.record.store import open_run

    parts = []
    for path in paths:
        run = open_run(path, strict=True, need_cases=True)
        env = run.meta.environment
        f = run.frame()
        facts = {
            "device_name": run.device_name,
            "device_label": run.device_label,
            "torch": env.get("torch"),
            "diffusers": env.get("diffusers"),
            "vae_bench": env.get("vae_bench"),
        }
        for i, column in enumerate(RUN_COLUMNS, start=1):
            f.insert(i, column, facts[column])
        parts.append(f)
    table = pd.concat(parts, ignore_index=True)
    for column in table.columns:
        if table[column].map(lambda v: isinstance(v, (list, tuple, dict))).any():
            table[column] = table[column].map(
                lambda v: json.dumps(v) if isinstance(v, (list, tuple, dict)) else v
            )
    return table


def run(args) -> int:
    from pathlib import Path

    from bench.files import write_atomic

    if not args.csv and not args.parquet:
        raise BadInput(
            None, "--csv/--parquet", "say where the table goes: --csv PATH, --parquet PATH or both"
        )
    if args.parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise BadInput(None, "--parquet", "needs pyarrow: pip install pyarrow (or use --csv)") from None
    table = frame([run_path(args, r) for r in args.runs])
    written = []
    if args.csv:
        path = Path(args.csv)
        written.append(write_atomic(path, table.to_csv(index=False), root=path.parent))
    if args.parquet:
        import io

        path = Path(args.parquet)
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        written.append(write_atomic(path, buffer.getvalue(), root=path.parent))
    if args.format == "json":
        from bench.record.envelope import envelope

        counts = {"rows": len(table), "runs": int(table["run"].nunique()), "columns": len(table.columns)}
        print(envelope("export", {"files": [str(p) for p in written], **counts}))
        return EXIT_OK
    for path in written:
        print(f"{path}: {len(table)} cases of {table['run'].nunique()} run(s), {len(table.columns)} columns")
    return EXIT_OK
