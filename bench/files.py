"""Reading the user's files and replacing ours: any reason a file cannot be read is
bad input, one line; every file we replace is replaced whole, in one rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BadInput

if TYPE_CHECKING:
    import yaml

# A YAML file that names an anchor many times can expand to billions of values
# (the "billion laughs"); no sweep, registry or spec comes near these bounds.
MAX_YAML_ALIASES = 500
MAX_TEXT_BYTES = 64 * 2**20
MAX_YAML_VALUES = 100_000


def read_text(path: str | Path, what: str, newline: str | None = None) -> str:
    """The file's text; `what` ("sweep file", "markdown page", ...) names it in errors.
    newline="" keeps line endings exactly as on disk."""
    path = Path(path)
    try:
        # Not a FIFO or a device such as /dev/zero, which would never end.
        if path.exists() and not path.is_dir() and not path.is_file():
            raise BadInput(path, None, f"is not a regular file; a {what} was expected")
        if path.is_file() and path.stat().st_size > MAX_TEXT_BYTES:
            raise BadInput(path, None, f"is larger than {MAX_TEXT_BYTES // 2**20} MiB; not a {what}")
        with open(path, encoding="utf-8", newline=newline) as f:
            return f.read()
    except FileNotFoundError:
        raise BadInput(path, None, f"no such file (a {what} was expected)") from None
    except IsADirectoryError:
        raise BadInput(path, None, f"is a folder, not a {what}") from None
    except UnicodeDecodeError:
        raise BadInput(path, None, f"not UTF-8 text; a {what} is text") from None
    except OSError as exc:
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None


def read_yaml(path: str | Path, what: str) -> Any:
    import yaml  # here, so that readers of runs never load it

    text = read_text(path, what)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_size(node, path)
        # Construct from the node already composed: the text is parsed once.
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise BadInput(path, None, "nested too deeply: not a config this tool reads") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise BadInput(path, None, f"{where}YAML syntax error: {problem}") from None


def _check_size(root: yaml.Node, path: str | Path) -> None:
    """Refuse a document whose aliases expand to more values than any config needs,
    before anything is built from it: its size is counted on the node graph, where an
    alias is a second reference to the same node, not a copy. Each mapping's keys are
    checked on the way."""
    import yaml

    expanded: dict[int, int] = {}
    seen: set[int] = set()
    aliases = 0

    def size(node: yaml.Node) -> int:
        nonlocal aliases
        key = id(node)
        if key in seen:
            aliases += 1
        seen.add(key)
        if key in expanded:
            return expanded[key]
        expanded[key] = 1  # a node that contains itself counts once
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            _check_unique_keys(node, path)
            children = [n for pair in node.value for n in pair]
        total = 1 + sum(size(child) for child in children)
        expanded[key] = total
        return total

    total = size(root)
    if aliases > MAX_YAML_ALIASES or total > MAX_YAML_VALUES:
        raise BadInput(
            path,
            None,
            f"too large once its aliases are expanded ({aliases} aliases, {total} values; "
            f"at most {MAX_YAML_ALIASES} and {MAX_YAML_VALUES}): not a config this tool reads",
        )


def _check_unique_keys(node: yaml.MappingNode, path: str | Path) -> None:
    """YAML lets a later key replace an earlier one without a word; in a config that is
    a mistake (two `models:` lines), and the second would run unseen."""
    import yaml

    lines: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in lines:
            raise BadInput(
                path, None, f"line {line}: key {key.value!r} given twice (first on line {lines[key.value]})"
            )
        lines[key.value] = line


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace the file at `path` (the file a symlink points to, for a link) with `data`
    in one rename, after an fsync: a reader sees the old file or the new one, never half
    of one. An existing file keeps its permissions. Returns the path written."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
