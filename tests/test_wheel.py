"""The project works installed from its wheel, outside the repository.

The wheel is built from a copy of the sources and installed with ``--no-deps`` into a
fresh venv that sees this interpreter's site-packages through a ``.pth`` file (torch and
lightning are not downloaded again). Everything then runs from a temporary folder, with
no PYTHONPATH, so the project can only come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Work folders at the top of a checkout, and caches anywhere in it.
TOP_LEVEL = {".git", ".venv", "runs", "lightning_logs", "build", "dist", "data", ".cache"}
ANYWHERE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache")


def ignored(folder: str, names: list[str]) -> set[str]:
    top = TOP_LEVEL if Path(folder) == REPO else set()
    return (top & set(names)) | set(ANYWHERE(folder, names))
CHECK_REQUIREMENTS = """
import importlib.metadata as md
from packaging.requirements import Requirement
problems = []
for text in md.requires("pit-lightning") or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        found = md.version(req.name)
    except md.PackageNotFoundError:
        problems.append(f"{req.name} missing")
        continue
    if not req.specifier.contains(found, prereleases=True):
        problems.append(f"{req.name} {found} does not satisfy {req}")
print("\\n".join(problems) or "requirements ok")
"""
WHERE = "import hw_profiler, pit_lightning; print(pit_lightning.__file__, hw_profiler.__file__)"


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A venv with the wheel installed, and the environment to run it in."""
    root = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, root / "src", ignore=ignored)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(root / "dist"), str(root / "src")], root, env)
    (wheel,) = (root / "dist").glob("pit_lightning-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  root, env).stdout.strip()
    Path(purelib, "host_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)], root, env)
    # The firmware builds into a cache of its own, not the user's.
    env = {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
           "XDG_CACHE_HOME": str(root / "cache")}
    work = root / "work"
    work.mkdir()
    return work, env


def test_the_wheel_is_what_runs_and_its_requirements_are_met(installed):
    work, env = installed
    where = run(["python", "-c", WHERE], work, env).stdout.split()
    assert all(REPO not in Path(path).parents for path in where), where
    assert all("site-packages" in path for path in where), where
    assert run(["python", "-c", CHECK_REQUIREMENTS], work, env).stdout.strip() == \
        "requirements ok"


def test_pit_lightning_fit_runs_the_smoke_config(installed, chorale_cache):
    work, env = installed
    shutil.copy(REPO / "configs" / "smoke.yaml", work / "smoke.yaml")
    run(["pit-lightning", "fit", "--config", "smoke.yaml",
         f"--data.init_args.cache_dir={chorale_cache}", "--trainer.enable_progress_bar=false"],
        work, env, timeout=600)
    assert list((work / "runs" / "smoke").rglob("network.pt"))


@pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)
def test_hw_profiler_info_builds_and_starts_the_emulated_board(installed):
    work, env = installed
    out = run(["hw-profiler", "info"], work, env).stdout
    assert "firmware   2.3 (protocol 1) on 'netduinoplus2'" in out
    assert (work.parent / "cache" / "hw-profiler").is_dir()
