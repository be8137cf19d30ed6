"""Gradient checking by central finite differences (the article series' gradient-checking part).

For every parameter coordinate theta_i (or a random sample of them):

    gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

    difference = ||grad - gradapprox||_2 / max(||grad||_2 + ||gradapprox||_2, floor)

A difference below 1e-7 means backpropagation is right; above 1e-3 it is wrong.

    result = gradient_check(net, X, y)
    result.passed()          # True / False
    print(result)            # the verdict, and for a failure which parameter, where, how much

Three things keep a correct network from failing the check:

- **float64, on a copy.** The check runs on a float64 copy of ``net`` (whatever its dtype; the
  network itself is never touched): float32 round-off alone gives differences near 1e-3.
- **A floor for tiny gradients.** Each J(theta +- eps e_i) is exact only to a few units of
  float64 round-off, so gradapprox_i carries a noise of about
  ``ROUNDOFF * |J| / (2 eps)``. ``floor`` is that noise's norm over the checked coordinates
  divided by ``NOISE_DIFFERENCE``: gradients as small as the noise are judged against the
  noise, not against their own (tiny) norm, while an error larger than the noise still fails.
- **Stepping around kinks.** ReLU and leaky ReLU have a kink at z = 0. When moving theta_i by
  +-eps moves any of their inputs z across 0, the two costs lie on different linear pieces and
  the finite difference is not the derivative. Such a coordinate is retried with eps / 10 and
  eps / 100; if it still crosses, it is left out of the difference and listed in
  ``result.skipped``. (Max pooling's switches between equal maxima are not detected.)

Works on any object with ``parameters`` (the live arrays by name) and ``cost_and_gradients(X,
y)``, e.g. a ``Network``, a ``ConvNetwork``, a ``SequenceNetwork`` or a wrapper around one.
"""

from __future__ import annotations

import copy
import re
import types
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from nnscratch.nn.layers.activation import ActivationLayer

#: Activations whose derivative jumps at z = 0 (the coordinates whose step crosses 0 are
#: retried with a smaller eps, then skipped).
KINKED_ACTIVATIONS = frozenset({"relu", "leaky_relu"})

#: The relative round-off of one float64 cost evaluation, generously (a sum over m samples).
ROUNDOFF = 16 * float(np.finfo(np.float64).eps)

#: The difference that finite-difference noise alone reads as (floor = noise / this).
NOISE_DIFFERENCE = 1e-8

#: The smaller steps a coordinate that crosses a kink is retried with (times ``epsilon``).
KINK_RETRIES = (0.1, 0.01)


@dataclass
class CoordinateError:
    """One parameter coordinate's analytic and numerical gradient."""

    parameter: str  # the parameter's name, e.g. "W1"
    name: str  # the name within its layer, e.g. "W"
    layer: int | None  # the article's layer number l (from the name), e.g. 1
    index: tuple[int, ...]  # the coordinate within the array, e.g. (2, 0)
    analytic: float  # backpropagation's value
    numeric: float  # the central difference's value

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numeric)

    def __str__(self) -> str:
        where = ", ".join(map(str, self.index))
        return (
            f"{self.parameter}[{where}]: backprop {self.analytic:.6g}, finite differences "
            f"{self.numeric:.6g} (error {self.error:.2g})"
        )


@dataclass
class GradientCheckResult:
    """What ``gradient_check`` found.

    Attributes:
        difference: the relative difference over all checked (not skipped) coordinates.
        max_abs_error: the largest |backprop - finite difference| of one coordinate.
        per_parameter: the same relative difference, per parameter ("W1": 3e-10, ...).
        n_checked: how many coordinates were probed (skipped ones included).
        worst: per parameter, its coordinate with the largest error.
        skipped: per parameter, the coordinates left out because every step crossed a kink.
    """

    difference: float
    max_abs_error: float
    per_parameter: dict[str, float]
    n_checked: int
    worst: dict[str, CoordinateError] = field(default_factory=dict)
    skipped: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)

    def passed(self, threshold: float = 1e-7) -> bool:
        return self.difference < threshold

    def failed_parameters(self, threshold: float = 1e-7) -> list[str]:
        """The parameters whose own difference is at least ``threshold``, worst first."""
        bad = [k for k, d in self.per_parameter.items() if d >= threshold]
        return sorted(bad, key=lambda k: -self.per_parameter[k])

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def report(self, threshold: float = 1e-7) -> str:
        """The verdict in words; for a failure, each wrong parameter with its difference and
        its worst coordinate."""
        verdict = "passed" if self.passed(threshold) else "FAILED"
        sign = "<" if self.passed(threshold) else ">="
        lines = [
            f"gradient check {verdict}: difference {self.difference:.3g} {sign} {threshold:g} "
            f"over {self.n_checked - self.n_skipped} coordinates"
            + (f" ({self.n_skipped} skipped: a kink within +-eps)" if self.n_skipped else "")
        ]
        for key in self.failed_parameters(threshold):
            layer = self.worst[key].layer if key in self.worst else None
            where = f" (layer {layer})" if layer is not None else ""
            lines.append(f"  wrong: {key}{where}, difference {self.per_parameter[key]:.3g}")
            if key in self.worst:
                lines.append(f"    worst coordinate {self.worst[key]}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def gradient_check(
    net,
    X,
    y,
    epsilon: float = 1e-6,
    max_per_parameter: int | None = None,
    seed: int = 0,
) -> GradientCheckResult:
    """Compare ``net.cost_and_gradients``'s gradients with central differences of its cost,
    computed on a float64 copy of ``net`` (``net`` itself is not modified).

    Args:
        X, y: the inputs and targets ``net.cost_and_gradients`` takes.
        epsilon: the step eps of the central difference.
        max_per_parameter: check at most this many randomly chosen coordinates of each
            parameter array (all of them when None).
        seed: the choice of those coordinates, and the fixed dropout masks.
    """
    probe, kinked = float64_copy(net)
    X = np.asarray(X)
    if X.dtype.kind == "f":
        X = X.astype(np.float64)
    # Dropout draws new masks on every training-mode pass; fix them so the cost is a
    # deterministic function of the parameters.
    fixed = getattr(probe, "fixed_dropout_masks", None)
    with fixed(seed) if fixed else nullcontext():
        return _check(probe, X, y, epsilon, max_per_parameter, seed, _KinkWatch(kinked))


def _check(net, X, y, epsilon, max_per_parameter, seed, watch) -> GradientCheckResult:
    _, grads = net.cost_and_gradients(X, y)
    base_sides = watch.take()
    rng = np.random.default_rng(seed)

    def cost() -> float:
        return float(net.cost_and_gradients(X, y)[0])

    analytic, numeric, noise = [], [], []
    per_parameter: dict[str, float] = {}
    worst: dict[str, CoordinateError] = {}
    skipped: dict[str, list] = {}
    n_checked = 0
    for key, p in net.parameters.items():
        flat = p.reshape(-1)  # a view: writing to it perturbs the (copied) network
        idx = np.arange(flat.size)
        if max_per_parameter is not None and flat.size > max_per_parameter:
            idx = rng.choice(flat.size, size=max_per_parameter, replace=False)
        n_checked += idx.size
        exact_all = grads[key].reshape(-1).astype(np.float64)
        kept, approx, key_noise = [], [], []
        for i in idx:
            for eps in (epsilon, *(epsilon * r for r in KINK_RETRIES)):
                plus, minus = _central_difference(cost, flat, i, eps, watch)
                if watch.same_sides(base_sides):
                    kept.append(i)
                    approx.append((plus - minus) / (2 * eps))  # the article's gradapprox
                    key_noise.append(ROUNDOFF * max(abs(plus), abs(minus)) / (2 * eps))
                    break
            else:
                skipped.setdefault(key, []).append(np.unravel_index(i, p.shape))
        exact = exact_all[np.asarray(kept, dtype=np.intp)]
        approx_arr, noise_arr = np.asarray(approx, dtype=np.float64), np.asarray(key_noise)
        per_parameter[key] = _relative_difference(exact, approx_arr, noise_arr)
        if exact.size:
            j = int(np.argmax(np.abs(exact - approx_arr)))
            worst[key] = _coordinate(key, p.shape, kept[j], exact[j], approx_arr[j])
        analytic.append(exact)
        numeric.append(approx_arr)
        noise.append(noise_arr)
    a, n = np.concatenate(analytic), np.concatenate(numeric)
    return GradientCheckResult(
        difference=_relative_difference(a, n, np.concatenate(noise)),
        max_abs_error=float(np.max(np.abs(a - n))) if a.size else 0.0,
        per_parameter=per_parameter,
        n_checked=int(n_checked),
        worst=worst,
        skipped={k: [tuple(int(j) for j in ix) for ix in v] for k, v in skipped.items()},
    )


def _central_difference(cost, flat, i, eps, watch) -> tuple[float, float]:
    """J(theta + eps e_i) and J(theta - eps e_i), theta_i restored afterwards; ``watch``
    keeps the kink sides of both passes."""
    original = flat[i]
    try:
        flat[i] = original + eps
        plus = cost()
        watch.keep()
        flat[i] = original - eps
        minus = cost()
        watch.keep()
    finally:
        flat[i] = original
    return plus, minus


def _relative_difference(a: np.ndarray, b: np.ndarray, noise: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, floor), floor = ||noise|| / NOISE_DIFFERENCE."""
    floor = float(np.linalg.norm(noise)) / NOISE_DIFFERENCE
    denom = max(float(np.linalg.norm(a) + np.linalg.norm(b)), floor)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


def _coordinate(key: str, shape, flat_index: int, analytic, numeric) -> CoordinateError:
    match = re.fullmatch(r"(.*?)(\d+)", key)
    name, layer = (match[1], int(match[2])) if match else (key, None)
    index = tuple(int(j) for j in np.unravel_index(flat_index, shape))
    return CoordinateError(key, name, layer, index, float(analytic), float(numeric))


# ---- the float64 copy --------------------------------------------------------------------
def float64_copy(net):
    """A deep copy of ``net`` whose float32 arrays, dtypes and scalars are float64; and the
    copy's ReLU / leaky ReLU activation layers (whose kinks the check steps around)."""
    probe = copy.deepcopy(net)
    kinked: list[ActivationLayer] = []
    _widen(probe, set(), kinked)
    return probe, kinked


_NOT_WALKED = (type, types.ModuleType, types.FunctionType, types.MethodType, np.random.Generator)


def _widened(value, seen: set, kinked: list):
    if isinstance(value, np.ndarray):
        return value.astype(np.float64) if value.dtype == np.float32 else value
    if isinstance(value, np.dtype):
        return np.dtype(np.float64) if value == np.float32 else value
    if isinstance(value, np.float32):
        return np.float64(value)
    _widen(value, seen, kinked)
    return value


def _widen(obj, seen: set, kinked: list) -> None:
    """Replace, in place, every float32 value reachable from ``obj`` by its float64 twin."""
    if id(obj) in seen or isinstance(obj, _NOT_WALKED):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _widened(v, seen, kinked)
    elif isinstance(obj, list):
        obj[:] = [_widened(v, seen, kinked) for v in obj]
    elif isinstance(obj, tuple):
        for v in obj:
            _widen(v, seen, kinked)
    elif hasattr(obj, "__dict__"):
        if isinstance(obj, ActivationLayer) and obj.activation.name in KINKED_ACTIVATIONS:
            kinked.append(obj)
        for k, v in vars(obj).items():
            vars(obj)[k] = _widened(v, seen, kinked)


def _same(sides: list[np.ndarray], base: list[np.ndarray]) -> bool:
    return len(sides) == len(base) and all(
        np.array_equal(s, b) for s, b in zip(sides, base, strict=True)
    )


class _KinkWatch:
    """Records, at every forward pass of the copy, on which side of 0 each input z of its
    ReLU / leaky ReLU layers lies."""

    def __init__(self, layers: list[ActivationLayer]):
        self.pending: list[np.ndarray] = []  # the pass under way
        self.kept: list[list[np.ndarray]] = []  # the passes since the last take()
        for layer in layers:
            forward = layer.forward

            def watched(Z, training=False, _forward=forward):
                self.pending.append(Z > 0)
                return _forward(Z, training)

            layer.forward = watched  # type: ignore[method-assign]  # on the copy only

    def keep(self) -> None:
        self.kept.append(self.pending)
        self.pending = []

    def take(self) -> list[np.ndarray]:
        """The sides of the pass just made (the unperturbed one)."""
        sides, self.pending, self.kept = self.pending, [], []
        return sides

    def same_sides(self, base: list[np.ndarray]) -> bool:
        """Whether the kept passes (theta + eps, theta - eps) put every z on ``base``'s side."""
        passes, self.kept = self.kept, []
        return all(_same(sides, base) for sides in passes)
