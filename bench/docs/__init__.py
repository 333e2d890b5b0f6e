"""The documentation tables: reading a markdown page (`pages`), the words and styles of
the published tables (`labels`, `styles`), which tables a page holds (`spec`), stored
runs rendered as tables (`tables`), a page updated in place (`update`) or linted
(`check`), and published tables read back into runs (`published`).

Reads runs through `bench.record.store` only; never measures, never loads the runner, the
worker, the measurement backends or torch."""
