"""Reading results: the summary table of a run (`summary`), two runs compared case by
case (`compare`, with its statistical test in `significance` and its printing in
`report`), medians across runs (`history`), and figures (`plot`).

Reads runs through `bench.record.store` only; never measures, never loads the runner, the
worker, the measurement backends, torch, or the sweep's config and registry."""
