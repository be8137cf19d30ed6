"""Hostile flags: architecture strings, model sizes and options that cannot work end in one
line on stderr ("... error: ..."), exit status 2, no traceback, nothing built or written."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnscratch.app.cli import main
from nnscratch.app.commands.train import config_from_args
from nnscratch.app.runs import _build_model
from nnscratch.base.errors import UsageError

QUICK = ["--iterations", "1", "--ensemble", "1", "--print-every", "0"]

#: architecture strings the issue found to end in a traceback, and what the message says
ARCHITECTURES = {
    "pool128": "window (128, 128) does not fit in an input of (64, 64)",
    "conv8x65pvalid": "kernel (65, 65) with padding 'valid' does not fit",
    "dropout0": "keep probability must be a number in (0, 1]",
    "dropout00": "keep probability must be a number in (0, 1]",
    "dropout1.5": "keep probability must be a number in (0, 1]",
    "gap-gap": "token 'gap'",
    "gap-pool2": "token 'pool2'",
    "gap-conv8x3": "a conv layer needs an image input",
    "dense4-pool2": "token 'pool2'",
    "bn-bn": "its parameters ['beta0', 'gamma0'] exist already",
    "gap-bn-bn": "exist already",
    "conv4x3-bn-bn": "its parameters ['beta1', 'gamma1'] exist already",
    "-".join(["pool2"] * 7): "does not fit in an input of (1, 1)",
    "avgpool65": "window (65, 65) does not fit",
    "shift100": "larger than the shift",
    "shift0": "unknown architecture token 'shift0'",
    "dense0": "unknown architecture token 'dense0'",
    "conv0x3": "unknown architecture token 'conv0x3'",
    "pool2s0": "unknown architecture token 'pool2s0'",
    "conv8x3--relu": "unknown architecture token ''",
    "dense100000000": "above the limit of 2.0 GiB",
    "conv100000x3": "above the limit of 2.0 GiB",
    "-".join(["relu"] * 1001): "architecture tokens (joined by '-'): 1,001, above the limit",
}


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_bad_architectures_are_one_line_usage_errors(architecture, cat_data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["train", "--data", str(cat_data_dir), *QUICK, "--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--architecture", architecture])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("nnscratch train: error: ") and err.count("\n") == 1
    assert ARCHITECTURES[architecture] in err and "Traceback" not in err
    assert not out.exists(), "nothing is left behind"


FLAGS = {
    ("--ensemble", "100000"): "ensemble members: 100,000, above the limit of 1,000",
    ("--layers", "1000000"): "above the limit of 2.0 GiB",
    ("--ensemble", "1000", "--layers", "500"): "above the limit of 2.0 GiB",
    ("--validation-fraction", "0.999"): "--validation-fraction 0.999 holds out",
    ("--validation-fraction", "0.999", "--early-stopping"): "leaving 0 to train on",
    ("--model", "mlp", "--architecture", "gap"): "cannot go with --model mlp",
}


@pytest.mark.parametrize("flags", list(FLAGS), ids=" ".join)
def test_flags_that_cannot_work_are_refused_before_building(flags, cat_data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["train", "--data", str(cat_data_dir), "--iterations", "1", "--print-every", "0"]
    with pytest.raises(SystemExit) as exc:
        main([*base, *flags, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert FLAGS[flags] in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [["train", "--bogus"], ["train", "--lr", "-1"], ["plot"], ["nosuch"], ["predict"]],
    ids=" ".join,
)
def test_usage_errors_are_one_line_and_point_at_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith("--help)"), err
    assert "usage:" not in err


def test_plot_to_an_unknown_format_lists_the_allowed_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plot", "activations", "--out", str(tmp_path / "x.xyz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unsupported format '.xyz'; use one of" in err and ".png" in err and ".pdf" in err
    assert list(tmp_path.iterdir()) == []


# ---- any architecture string: a model, or a one-line error -------------------------------

_PIECES = st.sampled_from(
    ["conv", "pool", "maxpool", "avgpool", "gap", "flatten", "dense", "relu", "tanh", "bn"]
    + ["dropout", "shift", "x", "s", "p", "valid", "same", "0", "1", "2", "3", "9", "65", "."]
)
_TOKENS = st.lists(_PIECES, min_size=1, max_size=4).map("".join)
_ARCHITECTURES = st.one_of(
    st.lists(_TOKENS, min_size=1, max_size=6).map("-".join),
    st.text(max_size=30),
)


def _args(architecture: str) -> argparse.Namespace:
    args = argparse.Namespace(architecture=architecture, model=None, ensemble=1)
    return args


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ARCHITECTURES)
def test_any_architecture_string_builds_or_is_a_one_line_usage_error(architecture):
    """What the command line does with --architecture before training: read the recipe, check
    its cost, build it on 64 x 64 x 3 images. Anything else than a model or a UsageError
    (one line, naming the problem) would be a traceback."""
    try:
        config = config_from_args(_args(architecture))
        if config.ensemble != 1:
            config = config.replace(ensemble=1)
        _build_model(config, 64 * 64 * 3, (64, 64, 3))
    except UsageError as err:
        assert "\n" not in str(err) and str(err)
