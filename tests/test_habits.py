"""The project's own checks: the guard that CI ran the PyTorch reference tests
(tests/conftest.py, $NNSCRATCH_REQUIRE_TORCH), and the pre-commit hook's core tier."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A torch-marked test as the suite writes them, and an unmarked one that always skips.
TORCH_TESTS = """
import pytest

@pytest.mark.torch
def test_reference():
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "__fake__"):
        pytest.skip("this PyTorch cannot run the reference")

def test_unrelated_skip():
    pytest.skip("not about torch")
"""


def run_guarded_session(tmp_path: Path, *, require: str | None, torch_module: str):
    """pytest in a subprocess on TORCH_TESTS with the suite's conftest.py, where ``import
    torch`` runs ``torch_module`` (a stand-in that fails or succeeds)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", project / "conftest.py")
    (project / "test_guarded.py").write_text(TORCH_TESTS)
    (project / "pytest.ini").write_text("[pytest]\nmarkers =\n    torch: needs PyTorch\n")
    shadow = tmp_path / "shadow" / "torch"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(torch_module)
    env = {k: v for k, v in os.environ.items() if k != "NNSCRATCH_REQUIRE_TORCH"}
    env["PYTHONPATH"] = str(tmp_path / "shadow")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the guard needs none; starts faster
    if require is not None:
        env["NNSCRATCH_REQUIRE_TORCH"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-c", "pytest.ini"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


MISSING = 'raise ModuleNotFoundError("PyTorch hidden by the test", name="torch")'
PRESENT = "__fake__ = True"
CANNOT_RUN = "pass"  # importable, but the test skips itself


@pytest.mark.timeout(300)
@pytest.mark.parametrize("require", [None, "0"])
def test_without_the_requirement_torch_tests_skip(tmp_path, require):
    proc = run_guarded_session(tmp_path, require=require, torch_module=MISSING)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout


@pytest.mark.timeout(300)
def test_required_torch_that_cannot_be_imported_stops_the_session(tmp_path):
    proc = run_guarded_session(tmp_path, require="1", torch_module=MISSING)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "NNSCRATCH_REQUIRE_TORCH=1 but PyTorch cannot be imported" in proc.stderr
    assert "PyTorch hidden by the test" in proc.stderr
    assert "passed" not in proc.stdout and "skipped" not in proc.stdout


@pytest.mark.timeout(300)
def test_required_torch_test_that_skips_fails(tmp_path):
    proc = run_guarded_session(tmp_path, require="1", torch_module=CANNOT_RUN)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "1 failed, 1 skipped" in proc.stdout  # the unmarked test may still skip
    assert "this torch test skipped" in proc.stdout
    assert "this PyTorch cannot run the reference" in proc.stdout


@pytest.mark.timeout(300)
def test_required_torch_that_runs_passes(tmp_path):
    proc = run_guarded_session(tmp_path, require="1", torch_module=PRESENT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout


def test_the_core_hook_collects_every_file_with_core_tests():
    """The pre-commit hook names the files to collect (collecting the whole suite would take
    longer than running the core tier); none with a core test may be missing."""
    yaml = pytest.importorskip("yaml")  # comes with pre-commit
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    argv = hooks["core-tests"]["entry"].split()
    assert argv[:1] == ["pytest"] and "-m" in argv and argv[argv.index("-m") + 1] == "core"
    listed = {arg for arg in argv if arg.startswith("tests/")}
    with_core = {
        f"tests/{path.name}"
        for path in (ROOT / "tests").glob("test_*.py")
        if re.search(r"pytest\.mark\.core\b", path.read_text()) and path.name != Path(__file__).name
    }
    assert with_core, "no test is marked core"
    assert listed == with_core
