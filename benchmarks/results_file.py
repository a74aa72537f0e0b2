"""Where the benchmarks write their JSON: one helper, so every script names and writes it alike."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_result(result: dict, stem: str, out: Path | None = None, echo: bool = False) -> Path:
    """Write ``result`` as indented JSON to ``out``, else to benchmarks/results/<stem>-<local time>.json,
    and say where on stderr; ``echo``: print it on stdout too, on one line. Returns the path."""
    out = out or RESULTS / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if echo:
        print(json.dumps(result))
    print(f"wrote {out}", file=sys.stderr)
    return out
