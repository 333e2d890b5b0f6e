"""Reading the user's files: any reason one cannot be read is bad input, one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import BadInput


def read_text(path: str | Path, what: str, newline: str | None = None) -> str:
    """The file's text; `what` ("sweep file", "markdown page", ...) names it in errors.
    newline="" keeps line endings exactly as on disk."""
    path = Path(path)
    try:
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
    text = read_text(path, what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise BadInput(path, None, f"{where}YAML syntax error: {problem}") from None
