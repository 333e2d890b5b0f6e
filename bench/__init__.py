"""vae-bench: time and peak memory of diffusers VAEs across models, sizes and tiling."""

__version__ = "0.1.0"

# Bumped whenever what a case measures changes; it is part of every case_id so that
# results measured differently never match up in a resume or a comparison.
MEASUREMENT_VERSION = 1


# The scripting API at the top: `bench.open_run(path).frame()`. Loaded on first use, so
# that importing the package (the command line, every worker) does not load the readers.
_API = ("open_run", "open_runs", "find_runs")


def __getattr__(name: str):
    if name in _API:
        from bench import record

        return getattr(record, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
