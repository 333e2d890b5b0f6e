"""Reading a file as data: a regular file under a stated size, never a FIFO or a device;
run-folder files without following a link. YAML and JSON parsed with their bombs
refused. Any reason a file cannot be read is one line of bad input."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BadInput

if TYPE_CHECKING:
    import yaml

# A YAML file that names an anchor many times can expand to billions of values
# (the "billion laughs"); no sweep, registry or spec comes near these bounds.
MAX_YAML_ALIASES = 500
MAX_YAML_VALUES = 100_000
# What vae-bench reads at most: a config or meta.json is a few KiB, a page some
# hundreds, the largest cases.jsonl seen some hundreds (300 samples a case).
MAX_CONFIG_BYTES = 16 * 2**20
MAX_TEXT_BYTES = 64 * 2**20
MAX_CASES_BYTES = 512 * 2**20


def _mib(n: int) -> str:
    return f"{n // 2**20} MiB"


# -- reading ------------------------------------------------------------------------------


def read_bytes(path: str | Path, what: str, limit: int = MAX_CONFIG_BYTES, follow: bool = False) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; `what` ("sweep file",
    "run's meta.json", ...) names it in errors. Without `follow`, a symbolic link is
    refused (a run folder's files are data, never pointers)."""
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadInput(path, None, f"no such file (a {what} was expected)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and path.is_symlink():
            raise BadInput(
                path,
                None,
                f"is a symbolic link; vae-bench reads a {what} only from a file, never through a link",
            ) from None
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise BadInput(path, None, f"is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(
                path, None, f"is not a regular file (a FIFO, a device or a socket); a {what} was expected"
            )
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise BadInput(path, None, f"is larger than {_mib(limit)}; not a {what} this tool reads")
        return b"".join(chunks)
    except OSError as exc:
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_text(
    path: str | Path,
    what: str,
    newline: str | None = None,
    limit: int = MAX_CONFIG_BYTES,
    follow: bool = False,
) -> str:
    """The file's UTF-8 text (see read_bytes). newline="" keeps line endings exactly as
    on disk; None turns \\r\\n and \\r into \\n, as Python's text files do."""
    data = read_bytes(path, what, limit, follow)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(path, None, f"not UTF-8 text; a {what} is text") from None
    return text if newline == "" else text.replace("\r\n", "\n").replace("\r", "\n")


def read_json(path: str | Path, what: str, limit: int = MAX_CONFIG_BYTES, follow: bool = False) -> Any:
    """A JSON document, read strictly: NaN and Infinity (which Python's json reads, and
    no JSON writer should make) are refused."""
    import json

    try:
        return json.loads(read_text(path, what, limit=limit, follow=follow), parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadInput(path, None, f"corrupt JSON at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:
        raise BadInput(path, None, f"corrupt JSON: {exc}") from None
    except RecursionError:
        raise BadInput(path, None, "nested too deeply: not a file this tool reads") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_line(line: bytes) -> Any:
    """One JSON value from one line, as read_json reads (ValueError otherwise)."""
    import json

    try:
        return json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_yaml(path: str | Path, what: str, follow: bool = False) -> Any:
    import yaml  # here, so that readers of runs never load it

    text = read_text(path, what, follow=follow)
    try:
        # libyaml's parser where PyYAML has it: the same nodes and marks, ten times
        # sooner (a docs update reads its spec, sweep and registry per command)
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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


def regular_or_absent(path: str | Path, what: str) -> bool:
    """Whether a regular file is at `path` (False: nothing is); bad input for a link, a
    folder, a FIFO or a device there."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise BadInput(path, None, f"is a symbolic link; a {what} is a file of its own, never a link")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(path, None, f"is not a regular file (a folder, FIFO or device); a {what} was expected")
    return True
