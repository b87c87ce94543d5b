"""hw_profiler knows nothing of PIT, and its serial client starts without torch."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import hw_profiler

PACKAGE = Path(hw_profiler.__file__).parent

PROBE = """
import json, sys, time
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(json.dumps({{"elapsed_s": elapsed, "modules": sorted(sys.modules)}}))
"""


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_no_hw_profiler_module_imports_pit_lightning() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in imported_modules(path)
                                               if m.split(".")[0] == "pit_lightning")
        for path in PACKAGE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_serial_client_imports_neither_torch_nor_pit_lightning() -> None:
    for module in ("hw_profiler", "hw_profiler.session"):
        probe = subprocess.run([sys.executable, "-c", PROBE.format(module=module)],
                               capture_output=True, text=True, check=True)
        result = json.loads(probe.stdout)
        loaded = {name.split(".")[0] for name in result["modules"]}
        assert not loaded & {"torch", "pit_lightning", "lightning"}, module
        # A benchmark figure, not a limit (machines differ): it should stay well under 0.3 s.
        print(f"import {module}: {result['elapsed_s']:.3f} s")
