"""The rooms' dependencies point one way (../shared/DESIGN.md): cli -> tune -> export -> trainer ->
runtime, cli -> serve -> runtime; samples (the bundled data and its tools) uses runtime only.
Every `import edgernn.X` in a room's source, at the top or inside a function, is checked."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# room -> the other rooms it may import
ALLOWED = {
    "runtime": set(),
    "samples": {"runtime"},
    "trainer": {"runtime"},
    "export": {"trainer", "runtime", "samples"},
    "tune": {"export", "trainer", "runtime"},
    "serve": {"runtime"},
    "report": {"runtime"},
    "cli": {"tune", "export", "trainer", "runtime", "serve", "samples", "report"},
}


def imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "edgernn" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


def test_every_room_imports_only_the_rooms_below_it():
    wrong = []
    for room, allowed in ALLOWED.items():
        for path in sorted((ROOT / room).rglob("*.py")):
            for other in imported_rooms(path) - allowed - {room}:
                wrong.append(f"{path.relative_to(ROOT)} imports edgernn.{other}")
    assert wrong == []


def test_every_package_is_a_known_room():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(ALLOWED)
