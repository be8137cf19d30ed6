"""``nnscratch.app.claims`` and ``nnscratch experiments --claims``: each claim returns a figure
and measured numbers whose verdict quotes them; the command writes a figure per claim."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from nnscratch.app import claims  # noqa: E402
from nnscratch.app.cli import main  # noqa: E402

#: Tiny sizes for every claim: each runs in a fraction of a second on the synthetic data.
TINY = {
    "saturation": {"iterations": 10, "every": 5},
    "dead_relu": {"iterations": 10, "every": 5},
    "init_scale": {"widths": (8, 8, 8)},
    "standardize": {"iterations": 10},
    "plateau": {"iterations": 30, "compare_iterations": 10},
    "overfitting": {"iterations": 20, "every": 5},
    "depth_width": {"iterations": 10},
}


def _synthetic(m: int = 40, n_x: int = 48, seed: int = 0) -> claims.ClaimData:
    """Pixel-like data (0 to 255) whose label depends on the first few pixels."""
    rng = np.random.default_rng(seed)

    def split(k):
        X = rng.integers(0, 256, (k, n_x)).astype(np.float32)
        y = (X[:, :4].mean(axis=1) > 127).astype(int)
        return X, y

    X, y = split(m)
    X_test, y_test = split(m // 2)
    return claims.ClaimData(X, y, X_test, y_test)


@pytest.fixture(scope="module")
def results() -> dict[str, claims.ClaimResult]:
    data = _synthetic()
    return {name: claim(data, seed=0, **TINY[name]) for name, claim in claims.CLAIMS.items()}


def test_the_registry_holds_the_seven_claims():
    assert list(claims.CLAIMS) == list(TINY)


@pytest.mark.parametrize("name", list(TINY))
def test_each_claim_returns_a_titled_figure_and_finite_numbers(results, name):
    from matplotlib.figure import Figure

    r = results[name]
    assert r.name == name and isinstance(r.holds, bool)
    assert isinstance(r.figure, Figure) and r.figure.axes
    title = r.figure.get_suptitle()
    assert r.claimed.split()[0] in title and "Article:" in title and "Measured:" in title
    assert r.numbers and r.verdict
    for key, value in r.numbers.items():
        if value is not None:
            assert math.isfinite(value), f"{name}: {key} = {value}"
    json.dumps(r.summary())  # JSON-able


def test_the_verdicts_quote_the_measured_numbers(results):
    n = results["standardize"].numbers
    assert f"{n['scaled_test_accuracy']:.2f} vs {n['standardized_test_accuracy']:.2f}" in (
        results["standardize"].verdict
    )
    n = results["plateau"].numbers
    assert f"{n['constant_cost']:.3f}" in results["plateau"].verdict
    n = results["overfitting"].numbers
    assert f"train accuracy {n['train_accuracy']:.2f}" in results["overfitting"].verdict


def test_the_constant_predictors_cost_on_the_cat_labels_is_0644():
    assert claims._binary_entropy(72 / 209) == pytest.approx(0.644, abs=5e-4)
    assert claims._binary_entropy(0.5) == pytest.approx(math.log(2))


def test_holds_follows_the_measurement():
    """A plateau claim on data whose cost cannot stay at the constant (a trivially separable
    set learnt fast by a short run) is measured as not holding: holds is not fixed."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (40, 8)).astype(np.float32)
    y = (X[:, 0] > 127).astype(int)
    data = claims.ClaimData(X * 0 + np.where(y[:, None], 255, 0), y, X[:10], y[:10])
    r = claims.plateau(data, iterations=10, compare_iterations=5)
    assert r.numbers["normal_escape_iteration"] is None and not r.holds


def test_experiments_claims_writes_a_figure_per_claim_and_the_verdicts(
    results, tmp_path, capsys, monkeypatch
):
    """The command's path with the cat data swapped for two of the tiny results above (a PNG
    takes a few tenths of a second; the slow test below runs all seven on the cat data)."""
    import nnscratch.data.cats

    monkeypatch.setattr(nnscratch.data.cats, "load_cats", lambda data_dir=None: None)
    monkeypatch.setattr(claims.ClaimData, "from_cats", classmethod(lambda cls, data: None))
    names = ["plateau", "standardize"]
    done = {name: (lambda data, seed, r=results[name]: r) for name in names}
    monkeypatch.setattr(claims, "CLAIMS", done)
    out = tmp_path / "claims"
    assert main(["experiments", "--claims", "--out", str(out), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    payload = json.loads(lines[-1])
    assert [c["name"] for c in payload["claims"]] == names
    text = (out / "claims.md").read_text(encoding="utf-8")
    for name in names:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"**{name}**" in text and f"({name}.png)" in text
        assert any(line.startswith(f"{name}: ") for line in lines)


def test_experiments_claims_refuses_a_file_as_out(tmp_path, capsys):
    out = tmp_path / "table.md"
    out.write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        main(["experiments", "--claims", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "must be a directory" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 80 s of CPU; minutes on a loaded machine
def test_experiments_claims_on_the_cat_data(cat_data_dir, tmp_path, capsys):
    out = tmp_path / "claims"
    assert main(["experiments", "--claims", "--data", str(cat_data_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in TINY:
        assert (out / f"{name}.png").stat().st_size < 150_000
        assert f"{name}: " in printed
