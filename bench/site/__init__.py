"""The HTML report: a static site of stored runs (an index, a page per run, compare
pages, history pages) that opens from file:// with no address outside it. Reads runs
through bench.record, computes through bench.analysis and bench.docs, and draws with
matplotlib as inline SVG; it never reaches the sweep's execution path or the models."""
