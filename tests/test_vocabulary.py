"""One vocabulary of argument rules (nnscratch.base.validation): the same value is refused with
the same message by every entry point: the models, fit, the recipe, the estimators, the search
space and the command line (exit 2, one line on stderr, no traceback)."""

import re

import numpy as np
import pytest

from nnscratch.app.cli import main
from nnscratch.app.recipe import TrainConfig
from nnscratch.base import validation as v
from nnscratch.models.conv import ConvNetwork
from nnscratch.models.ensemble import Ensemble
from nnscratch.models.network import Network
from nnscratch.sklearn import tune as tuning
from nnscratch.sklearn.search_space import parse_settings, parse_space
from nnscratch.train.fit import fit
from nnscratch.train.optimizers import get_optimizer

X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 3)
y = np.array([0, 1, 1, 0] * 3)

# ---- the seed rule ------------------------------------------------------------------------
SEED_RULE = "seed must be an integer from 0 to 4294967295"
BAD_SEEDS = [-1, 2**32, 1.5, True]


def _seed_message(bad, name: str = "seed") -> str:
    """The rule's message (" or None" where None is allowed), naming the value it got."""
    rule = SEED_RULE.replace("seed", name, 1)
    return rf"{re.escape(rule)}( or None)?; got {re.escape(repr(bad))}$"


SEED_ENTRY_POINTS = {
    "Network": lambda s: Network([2, 3, 1], seed=s),
    "ConvNetwork": lambda s: ConvNetwork("conv2x3-relu-gap", input_shape=(6, 6, 1), seed=s),
    "Ensemble.of": lambda s: Ensemble.of(2, seed=s, layer_dims=[2, 3, 1]),
    "fit": lambda s: fit(Network([2, 3, 1]), X, y, iterations=1, seed=s),
    "Network.fit": lambda s: Network([2, 3, 1]).fit(X, y, iterations=1, seed=s),
    "TrainConfig": lambda s: TrainConfig(seed=s),
    "tune(seed=)": lambda s: tuning.tune(X, y, {"learning_rate": [0.1]}, seed=s, n_jobs=1),
    "make_search(seed=)": lambda s: tuning.make_search(
        tuning.make_estimator("classification"), {"learning_rate": [0.1]}, seed=s
    ),
}


@pytest.mark.parametrize("bad", BAD_SEEDS, ids=repr)
@pytest.mark.parametrize("entry", SEED_ENTRY_POINTS)
def test_every_library_entry_point_refuses_a_bad_seed_with_the_one_message(entry, bad):
    with pytest.raises(ValueError, match=_seed_message(bad)):
        SEED_ENTRY_POINTS[entry](bad)


@pytest.mark.parametrize("bad", BAD_SEEDS, ids=repr)
def test_the_search_space_refuses_a_bad_random_state(bad):
    text = str(bad)  # as typed in a spec: "-1", "4294967296", "1.5", "True"
    read = v.from_text(text)
    with pytest.raises(ValueError, match=_seed_message(read, "random_state")):
        parse_space([f"random_state=0:{text}"])
    with pytest.raises(ValueError, match=_seed_message(read, "random_state")):
        parse_settings([f"random_state={text}"])


def test_the_search_space_takes_good_seeds_and_checks_distribution_bounds():
    assert parse_space(["random_state=0:1:4294967295"]) == {"random_state": [0, 1, 2**32 - 1]}
    assert parse_settings(["random_state=7"]) == {"random_state": 7}
    with pytest.raises(ValueError, match=_seed_message(-1, "random_state")[:-1]):
        parse_space(["random_state=randint(-1,5)"], "random")


def test_a_random_state_setting_seeds_the_networks_not_the_folds():
    est = tuning.make_estimator("classification", {"random_state": 7}, seed=0)
    assert est.random_state == 7
    assert tuning.make_estimator("classification", seed=3).random_state == 3


# scikit-learn's random_state rule takes True (an integer: seed 1), as its own MLP does
@pytest.mark.parametrize("bad", [b for b in BAD_SEEDS if b is not True], ids=repr)
def test_mlp_classifier_refuses_a_bad_random_state_at_fit(bad):
    from nnscratch.sklearn.estimators import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, random_state=bad)  # kept as given
    assert clf.random_state is bad
    # a parameter of scikit-learn's MLP: refused with scikit-learn's own message
    with pytest.raises(ValueError, match=r"'random_state' parameter of MLPClassifier must be"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "state",
    [None, 0, 2**32 - 1, np.int64(5), np.random.RandomState(0)],
    ids=lambda s: type(s).__name__ if isinstance(s, np.random.RandomState) else repr(s),
)
def test_mlp_classifier_keeps_scikit_learns_random_state_semantics(state):
    from sklearn.exceptions import ConvergenceWarning

    from nnscratch.sklearn.estimators import MLPClassifier

    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, random_state=state).fit(X, y)
    assert clf.predict(X).shape == (12,)


def _cli_usage_error(argv, capsys) -> str:
    """The stderr of a usage error: exit 2, one line, no traceback."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    line, hint = re.subn(r" \(see nnscratch[\w ]* --help\)$", "", err.strip())
    assert hint == 1, f"a usage error points at --help: {err}"
    return line


CLI_SEED_FLAGS = {
    "train --seed": lambda text: ["train", "--seed", text],
    "tune --seed": lambda text: ["tune", "--seed", text],
    "experiments --seeds": lambda text: ["experiments", "--seeds", f"0,{text}"],
    "plot samples --seed": lambda text: ["plot", "samples", "--seed", text],
}


@pytest.mark.parametrize("bad", ["-1", str(2**32), "1.5", "True"])
@pytest.mark.parametrize("flag", CLI_SEED_FLAGS)
def test_every_seed_flag_refuses_a_bad_seed_with_the_one_message(flag, bad, capsys):
    err = _cli_usage_error(CLI_SEED_FLAGS[flag](bad), capsys)
    assert re.search(_seed_message(v.from_text(bad)), err), err
    assert err.startswith(f"nnscratch {flag.split(' --')[0]}: error: argument --seed")


def test_a_seed_flag_takes_the_largest_seed():
    from nnscratch.app.cli import build_parser

    args = build_parser().parse_args(["train", "--seed", str(2**32 - 1)])
    assert args.seed == 2**32 - 1
    args = build_parser().parse_args(["experiments", "--seeds", "0, 1,2"])
    assert args.seeds == (0, 1, 2)
    assert build_parser().parse_args(["tune", "--seed", "4"]).seed == 4


# ---- the learning-rate rule (a finite number > 0) -------------------------------------------
LR_RULE = "learning_rate(_init)? must be a finite number > 0"  # _init: the estimators' name
BAD_RATES = [0, -0.1, float("nan"), float("inf")]


def _lr_message(bad) -> str:
    return rf"{LR_RULE}; got {re.escape(repr(bad))}$"


def _classifier(**params):
    from nnscratch.sklearn.estimators import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, **params)


LR_ENTRY_POINTS = {
    "fit": lambda lr: fit(Network([2, 3, 1]), X, y, iterations=1, learning_rate=lr),
    "optimizer": lambda lr: get_optimizer("adam", learning_rate=lr),
    "TrainConfig": lambda lr: TrainConfig(learning_rate=lr),
}


@pytest.mark.parametrize("bad", BAD_RATES, ids=repr)
def test_mlp_classifier_refuses_a_bad_learning_rate_init_as_scikit_learn_does(bad):
    with pytest.raises(ValueError, match=r"'learning_rate_init' parameter of MLPClassifier"):
        _classifier(learning_rate_init=bad).fit(X, y)


@pytest.mark.parametrize("bad", BAD_RATES, ids=repr)
@pytest.mark.parametrize("entry", LR_ENTRY_POINTS)
def test_every_entry_point_refuses_a_bad_learning_rate_with_the_one_message(entry, bad):
    with pytest.raises(ValueError, match=_lr_message(bad)):
        LR_ENTRY_POINTS[entry](bad)


@pytest.mark.parametrize("text", ["0", "-0.1", "nan", "inf", "fast"])
def test_the_search_space_refuses_a_bad_learning_rate(text):
    message = _lr_message(v.from_text(text))
    with pytest.raises(ValueError, match=message):
        parse_space([f"learning_rate_init=0.1:{text}"])
    with pytest.raises(ValueError, match=message):
        parse_settings([f"learning_rate_init={text}"])


def test_a_distribution_bound_follows_the_rule_too():
    match = r"uniform\(0,0.1\) for learning_rate_init: " + LR_RULE
    with pytest.raises(ValueError, match=match):
        parse_space(["learning_rate_init=uniform(0,0.1)"], "random")


CLI_LR = {
    "train --learning-rate": lambda text: ["train", f"--learning-rate={text}"],
    "train --lr": lambda text: ["train", f"--lr={text}"],
    "tune --set": lambda text: ["tune", "--set", f"learning_rate_init={text}"],
    "tune --param": lambda text: ["tune", "--param", f"learning_rate_init=0.1:{text}"],
}


@pytest.mark.parametrize("text", ["0", "-0.1", "nan", "inf", "fast"])
@pytest.mark.parametrize("flag", CLI_LR)
def test_the_command_line_refuses_a_bad_learning_rate_with_the_one_message(flag, text, capsys):
    err = _cli_usage_error(CLI_LR[flag](text), capsys)
    assert re.search(_lr_message(v.from_text(text)), err), err


# ---- the keep-probability rule (a number in (0, 1]) -----------------------------------------
@pytest.mark.parametrize("bad", [0, -0.5, 1.5, float("nan")], ids=repr)
def test_a_keep_probability_outside_0_1_is_refused_alike(bad, capsys):
    message = rf"dropout must be a number in \(0, 1\]( or None)?; got {re.escape(repr(bad))}$"
    with pytest.raises(ValueError, match=message):
        TrainConfig(dropout=bad)
    with pytest.raises(ValueError, match=message):
        _classifier(dropout=bad).fit(X, y)
    with pytest.raises(ValueError, match=message):
        parse_space([f"dropout=none:{bad}"])
    err = _cli_usage_error(["train", f"--dropout={bad}"], capsys)
    assert re.search(message, err), err


def test_keep_probability_one_and_none_are_taken():
    assert TrainConfig(dropout=1).dropout == 1.0
    assert TrainConfig(dropout=None).dropout is None
    assert parse_space(["dropout=none:1:0.5"]) == {"dropout": [None, 1.0, 0.5]}


# ---- the rules themselves -----------------------------------------------------------------
def test_from_text_reads_ints_then_floats_else_keeps_the_text():
    assert v.from_text("3") == 3 and isinstance(v.from_text("3"), int)
    assert v.from_text("-2.5") == -2.5 and v.from_text("1e3") == 1000.0
    assert v.from_text("fast") == "fast" and v.from_text("") == ""


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: v.check_int_at_least("cv", 1, 2), "cv must be an integer >= 2; got 1"),
        (lambda: v.check_int_at_least("cv", 2.0, 2), "cv must be an integer >= 2; got 2.0"),
        (lambda: v.check_int_at_least("cv", True, 0), "cv must be an integer >= 0; got True"),
        (
            lambda: v.check_positive("batch_size", "big", integer=True, allow=("auto",)),
            "batch_size must be an integer >= 1 or 'auto'; got 'big'",
        ),
        (lambda: v.check_positive("l2", -1, allow_zero=True), "l2 must be a finite number >= 0"),
        (lambda: v.check_fraction("f", 1), r"f must be a number in \(0, 1\); got 1"),
        (lambda: v.check_fraction("f", 0.0), r"f must be a number in \(0, 1\); got 0.0"),
        (lambda: v.check_probability("p", 0, allow=(None,)), r"\(0, 1\] or None; got 0"),
        (
            lambda: v.check_choice("optimizer", "lion", ("adam", "gd")),
            "unknown optimizer 'lion'; allowed: adam, gd",
        ),
        (
            lambda: v.check_choice("lr_schedule", "x", (None, "step")),
            "unknown lr_schedule 'x'; allowed: None, step",
        ),
        (
            lambda: v.check_layer_widths("layers", (20, 0)),
            r"layers must be a sequence of integers >= 1; got 0 in \(20, 0\)",
        ),
        (lambda: v.check_layer_widths("layers", 5), "a sequence of integers >= 1; got 5"),
        (lambda: v.check_layer_widths("layers", "20"), "a sequence of integers >= 1; got '20'"),
        (
            lambda: v.check_random_state(-1),
            "random_state must be an integer from 0 to 4294967295, a numpy.random.RandomState "
            "or None; got -1",
        ),
    ],
)
def test_each_rule_names_what_it_got_and_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rules_return_normalised_values_and_the_allowed_extras_as_they_are():
    assert v.check_int_at_least("n", np.int64(3), 1) == 3
    assert v.check_positive("lr", 1) == 1.0 and isinstance(v.check_positive("lr", 1), float)
    assert v.check_positive("batch_size", "auto", integer=True, allow=("auto",)) == "auto"
    assert v.check_probability("p", 1) == 1.0
    assert v.check_probability("p", None, allow=(None,)) is None
    assert v.check_layer_widths("layers", [20, np.int32(7)]) == (20, 7)
    assert v.check_layer_widths("layers", ()) == ()
    assert v.check_choice("lr_schedule", None, (None, "step")) is None
    rs = np.random.RandomState(0)
    assert v.check_random_state(rs) is rs and v.check_random_state(None) is None
    # an extra string is never taken for a number, nor the reverse
    with pytest.raises(ValueError):
        v.check_positive("x", 0, integer=True, allow=("0",))


def test_a_bad_flag_name_is_one_line_too(capsys):
    err = _cli_usage_error(["train", "--no-such-flag", "0.1"], capsys)
    assert "unrecognized arguments: --no-such-flag 0.1" in err
