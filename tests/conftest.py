"""Shared fixtures of the test suite, and the guard that the PyTorch reference tests ran."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Set (to anything but "" or "0") where the PyTorch reference tests must run, as in CI:
#: they are the proof of the hand-written gradients, and a skip would hide their absence.
REQUIRE_TORCH = "NNSCRATCH_REQUIRE_TORCH"


def torch_required() -> bool:
    return os.environ.get(REQUIRE_TORCH, "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    """With $NNSCRATCH_REQUIRE_TORCH set, a PyTorch that cannot be imported stops the session
    before any test runs."""
    if not torch_required():
        return
    try:
        import torch  # noqa: F401
    except Exception as err:  # ImportError, or the OSError of a broken install
        raise pytest.UsageError(
            f"{REQUIRE_TORCH}={os.environ[REQUIRE_TORCH]} but PyTorch cannot be imported "
            f"({type(err).__name__}: {err}), so its reference tests would be skipped; "
            "install the test extra: pip install -e '.[dev,test]'"
        ) from err


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With $NNSCRATCH_REQUIRE_TORCH set, a skipped test marked ``torch`` is a failure."""
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and torch_required()
        and item.get_closest_marker("torch") is not None
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_TORCH} is set, but this torch test skipped: {reason}"
    return report


def shared_data_path() -> Path:
    """Where the cat data files are: $NNSCRATCH_TEST_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("NNSCRATCH_TEST_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def cat_data_dir() -> Path:
    """The directory holding train_catvnoncat.h5 and test_catvnoncat.h5 (read-only!).

    Skips the test when the files are absent. Tests that modify or download files must copy
    them into tmp_path first.
    """
    path = shared_data_path()
    names = ("train_catvnoncat.h5", "test_catvnoncat.h5")
    if not all((path / name).is_file() for name in names):
        pytest.skip(f"cat data files {names} not found in {path} (set NNSCRATCH_TEST_DATA)")
    return path
