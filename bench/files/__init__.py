"""The one file layer: every file vae-bench reads or writes goes through here.

Run folders come from other machines and other people (a fleet, `docs import`, a
colleague's copy), and vae-bench often runs as root, so a file is data, never a
pointer to somewhere else:
- Reading (read): a regular file, at most a stated size, never a FIFO or a device
  (/dev/zero would never end). A run folder's files are opened without following a
  symbolic link; a config or a page, which a person names, may be one (`follow`). Any
  reason a file cannot be read is bad input, one line.
- Writing (write): inside a stated folder only, never through a link; a file is
  replaced whole in one rename after an fsync, and an append is flushed to disk at once.
- Names (names): a path component that comes from data (a run id, a label, a model or
  op name) passes `slug` or `plain_name` before it reaches a path.
- Locks (locks): `Lock` (filelock's flock; a file system without flock is refused),
  which names its holder.
"""

from bench.files.locks import LOCK_WAIT_S, Lock, holder, lock_held
from bench.files.names import RUN_NAME_RULE, folder_inside, inside, is_plain_name, plain_name, slug
from bench.files.read import (
    MAX_CASES_BYTES,
    MAX_CONFIG_BYTES,
    MAX_TEXT_BYTES,
    parse_json_line,
    read_bytes,
    read_json,
    read_text,
    read_yaml,
    regular_or_absent,
)
from bench.files.write import append, make_folder, write_atomic

__all__ = [
    "LOCK_WAIT_S",
    "MAX_CASES_BYTES",
    "MAX_CONFIG_BYTES",
    "MAX_TEXT_BYTES",
    "RUN_NAME_RULE",
    "Lock",
    "append",
    "folder_inside",
    "holder",
    "inside",
    "is_plain_name",
    "lock_held",
    "make_folder",
    "parse_json_line",
    "plain_name",
    "read_bytes",
    "read_json",
    "read_text",
    "read_yaml",
    "regular_or_absent",
    "slug",
    "write_atomic",
]
