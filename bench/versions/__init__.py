"""Runs of one sweep under other versions of its dependencies.

- wants: a `--with` requirement (`diffusers==0.41.0`, a local checkout or wheel,
  several joined by `+`), checked once, with what names its layer's content
- layers: a virtualenv per requirement, layered on the running environment and kept
  in a cache folder by content (built with uv where it is installed, else venv + pip)
- sweeps: `vae-bench run` in a layer's interpreter, Ctrl-C passed on and waited for
- candidates: the releases of a package between two versions, the first-parent
  commits of a checkout between two commits
- state: the JSON a matrix or a bisect keeps in its folder, to resume from
- matrix, bisect: the two commands' work, and their reports
"""
