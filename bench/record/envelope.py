"""What every `--format json` prints: one envelope, `{"schema_version", "command",
"data"}`, so that a script checks one version and finds the answer in one place.
Inside, numbers are in base units (bytes, seconds, ratios; shares of a card as a
fraction of 1) and nothing is a formatted string. The version moves when a field
is renamed, removed or changes meaning; an added field keeps it."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_VERSION = 1


def envelope(command: str, data: Any) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION, "command": command, "data": data}, indent=2)
