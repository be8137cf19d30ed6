"""scikit-learn's own ``sklearn/neural_network/tests/test_mlp.py``, run on nnscratch's estimators.

The test file is read from the INSTALLED scikit-learn (or from the path in the environment
variable NNSCRATCH_SKLEARN_TEST_MLP), its one import of ``MLPClassifier, MLPRegressor`` is
rewritten to import nnscratch's, and the result runs under pytest in a subprocess (one BLAS
thread, no network). Every test must pass except ``test_fit`` and ``test_gradient``, which set
and call scikit-learn's private internals (``_coef_grads``, ``_loss_grad_lbfgs``) and are
deselected. Nothing of scikit-learn's is copied into this repository.

The full run takes ~15 s of CPU (``slow``); the default suite runs QUICK_TESTS of the file.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

import nnscratch  # noqa: E402

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
OUR_IMPORT = "from nnscratch.sklearn.estimators import MLPClassifier, MLPRegressor"
DESELECTED = ("test_fit", "test_gradient")  # they poke scikit-learn's private internals
#: quick tests of the file (well under a second each), what the default suite runs
QUICK_TESTS = (
    "test_partial_fit_classes_error",
    "test_partial_fit_errors",
    "test_partial_fit_unseen_classes",
    "test_tolerance",
    "test_verbose_sgd",
    "test_adaptive_learning_rate",
    "test_learning_rate_warmstart",
    "test_early_stopping_stratified",
    "test_minimum_input_sample_size",
    "test_shuffle",
    "test_sparse_matrices",
    "test_mlp_param_dtypes",
    "test_warm_start_full_iteration",
    "test_preserve_feature_names",
)

CONFTEST = '''
import os

import pytest

SKIPPED = set(os.environ["NNSCRATCH_DESELECT"].split(","))
ONLY = set(filter(None, os.environ.get("NNSCRATCH_SELECT", "").split(",")))


@pytest.fixture
def global_random_seed():
    """scikit-learn's conftest fixture, with its default seed."""
    return 42


def pytest_collection_modifyitems(config, items):
    """Deselect the tests named exactly (all their parametrizations) in NNSCRATCH_DESELECT,
    and, when NNSCRATCH_SELECT names some, every test it does not name."""
    kept = [
        item
        for item in items
        if item.originalname not in SKIPPED and (not ONLY or item.originalname in ONLY)
    ]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
'''


def sklearn_test_file() -> Path:
    """test_mlp.py of the installed scikit-learn, or NNSCRATCH_SKLEARN_TEST_MLP's path."""
    given = os.environ.get("NNSCRATCH_SKLEARN_TEST_MLP")
    if given:
        return Path(given)
    spec = importlib.util.find_spec("sklearn.neural_network.tests.test_mlp")
    if spec is None or spec.origin is None:
        pytest.skip(
            "this scikit-learn does not ship its tests; set NNSCRATCH_SKLEARN_TEST_MLP to "
            "the path of sklearn/neural_network/tests/test_mlp.py"
        )
    return Path(spec.origin)


def swapped_source(text: str) -> str:
    """The test file with nnscratch's estimators imported instead of scikit-learn's."""
    assert text.count(SKLEARN_IMPORT) == 1, "the import line of test_mlp.py has changed"
    return text.replace(SKLEARN_IMPORT, OUR_IMPORT)


def run_suite(
    tmp_path: Path, skip: tuple[str, ...], only: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Run the swapped file with ``skip`` deselected (and only ``only``, if given); its tests
    by outcome. Fails with the failing tests' names and pytest's output."""
    (tmp_path / "test_mlp_nnscratch.py").write_text(
        swapped_source(sklearn_test_file().read_text(encoding="utf-8")), encoding="utf-8"
    )
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    report = tmp_path / "report.xml"
    src = str(Path(nnscratch.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NNSCRATCH_DESELECT": ",".join(skip),
        "NNSCRATCH_SELECT": ",".join(only),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)]
    command += ["--junitxml", str(report), "test_mlp_nnscratch.py"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    outcomes: dict[str, list[str]] = {"passed": [], "failed": [], "skipped": []}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "?")
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes["failed"].append(name)
        elif case.find("skipped") is not None:
            outcomes["skipped"].append(name)
        else:
            outcomes["passed"].append(name)
    assert not outcomes["failed"], (outcomes["failed"], done.stdout[-6000:])
    return outcomes


def test_the_import_swap_is_exact():
    text = sklearn_test_file().read_text(encoding="utf-8")
    swapped = swapped_source(text)
    assert OUR_IMPORT in swapped and SKLEARN_IMPORT not in swapped
    assert "def test_fit(" in text and "def test_gradient(" in text


def test_scikit_learns_quick_mlp_tests_pass(tmp_path):
    outcomes = run_suite(tmp_path, DESELECTED, only=QUICK_TESTS)
    ran = {name.split("[")[0] for name in outcomes["passed"] + outcomes["skipped"]}
    assert ran == set(QUICK_TESTS), ran ^ set(QUICK_TESTS)


@pytest.mark.slow
def test_scikit_learns_whole_test_mlp_passes_except_its_two_private_tests(tmp_path):
    outcomes = run_suite(tmp_path, DESELECTED)
    # the one optional skip: test_preserve_feature_names needs pandas
    assert {n.split("[")[0] for n in outcomes["skipped"]} <= {"test_preserve_feature_names"}
    ran = len(outcomes["passed"]) + len(outcomes["skipped"])
    assert ran >= 57, ran  # scikit-learn 1.9.1: 57 tests besides test_fit and test_gradient
