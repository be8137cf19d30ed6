"""A fitted preprocessing step: flatten images, scale pixels, optionally standardise features.

    pre = ImagePreprocessor(standardize=True)
    X_train = pre.fit_transform(x_train)   # (m, 64, 64, 3) uint8 -> (m, 12288) float32
    X_test = pre.transform(x_test)         # uses the training data's mean and std

Layout: one example per row. Inputs are (m, n) or (m, H, W, C) (any (m, ...) works); outputs
are (m, n_features) with n_features the product of the per-example shape.

The fitted state is plain arrays and JSON-able scalars (``get_state`` / ``from_state``), so a
model file can store it in an .npz without pickle. ``PREPROCESSORS`` is the registry of
preprocessing classes by the "kind" their state records; ``preprocessor_from_state`` rebuilds
any of them.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["PREPROCESSORS", "ImagePreprocessor", "preprocessor_from_state"]

# name -> output dtype; the names are what get_state() records.
OUTPUT_DTYPES: dict[str, type[np.floating[Any]]] = {
    "float32": np.float32,
    "float64": np.float64,
}

_STATE_KIND = "ImagePreprocessor"
_STATE_VERSION = 1


def _output_dtype_name(dtype: npt.DTypeLike) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise ValueError(
            f"dtype={dtype!r} is not a dtype; expected one of {list(OUTPUT_DTYPES)}"
        ) from exc
    if name not in OUTPUT_DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; expected one of {list(OUTPUT_DTYPES)}")
    return name


def _as_samples(X: npt.ArrayLike, what: str) -> np.ndarray:
    """``X`` as an array of shape (m, ...) with a real numeric dtype, or ValueError."""
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(
            f"{what} expects (m, n) or (m, H, W, C) with one example per row; got shape {X.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{what} expects bool, integer or float values; got dtype {X.dtype}")
    return X


_STATS_BLOCK = 1024  # columns per block when computing the standard deviation


class ImagePreprocessor:
    """Flatten to (m, n_features), multiply by ``scale``, optionally standardise per feature.

    Parameters
    ----------
    scale : multiplier applied first (default 1/255: uint8 pixels to [0, 1]); finite, nonzero.
    standardize : if true, subtract each feature's training mean and divide by its training
        standard deviation (both of the scaled values, from ``fit``'s data only). A standard
        deviation below ``eps`` is raised to ``eps``, so constant pixels do not divide by 0.
    dtype : output dtype, "float32" (default) or "float64". Scaling and standardising happen
        in this dtype, without float64 temporaries for float32 output.
    eps : floor of the standard deviation, in scaled units.

    Fitted attributes
    -----------------
    input_shape_ : tuple[int, ...], the per-example shape seen by ``fit``, e.g. (64, 64, 3).
    n_features_ : int, the product of ``input_shape_``.
    mean_, std_ : (n_features,) arrays of the output dtype (only when ``standardize``).
    """

    def __init__(
        self,
        *,
        scale: float = 1.0 / 255.0,
        standardize: bool = False,
        dtype: npt.DTypeLike = "float32",
        eps: float = 1e-6,
    ) -> None:
        scale = float(scale)
        if not math.isfinite(scale) or scale == 0.0:
            raise ValueError(f"scale must be finite and nonzero; got {scale}")
        eps = float(eps)
        if not (math.isfinite(eps) and eps > 0.0):
            raise ValueError(f"eps must be finite and > 0; got {eps}")
        self.scale = scale
        self.standardize = bool(standardize)
        self.dtype = _output_dtype_name(dtype)
        self.eps = eps
        self.input_shape_: tuple[int, ...] | None = None
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"ImagePreprocessor(scale={self.scale!r}, standardize={self.standardize!r}, "
            f"dtype={self.dtype!r}, eps={self.eps!r})"
        )

    @property
    def n_features_(self) -> int:
        return math.prod(self._fitted_shape())

    def _fitted_shape(self) -> tuple[int, ...]:
        if self.input_shape_ is None:
            raise RuntimeError("this ImagePreprocessor is not fitted yet; call fit(X) first")
        return self.input_shape_

    def fit(self, X: npt.ArrayLike) -> ImagePreprocessor:
        """Learn the per-example shape (and mean/std if standardising) from X (m, ...)."""
        X = _as_samples(X, "fit")
        if X.shape[0] == 0:
            raise ValueError(f"fit needs at least one example; got shape {X.shape}")
        flat = X.reshape(X.shape[0], -1)  # (m, n), a view where possible
        if self.standardize:
            # Statistics of the raw values in float64 (exact for any input), then scaled;
            # std in blocks of columns, so its float64 temporaries stay (m, 1024), never a
            # float64 copy of the whole data set.
            mean = flat.mean(axis=0, dtype=np.float64)  # (n,)
            std = np.empty(flat.shape[1])  # (n,)
            for j in range(0, flat.shape[1], _STATS_BLOCK):
                std[j : j + _STATS_BLOCK] = flat[:, j : j + _STATS_BLOCK].std(
                    axis=0, dtype=np.float64
                )
            std *= abs(self.scale)
            dtype = OUTPUT_DTYPES[self.dtype]
            self.mean_ = (mean * self.scale).astype(dtype)
            self.std_ = np.maximum(std, self.eps).astype(dtype)
        else:
            self.mean_ = self.std_ = None
        self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """X (m, *input_shape_) -> (m, n_features_) of the output dtype."""
        expected = self._fitted_shape()
        X = _as_samples(X, "transform")
        if X.shape[1:] != expected:
            raise ValueError(
                f"transform got examples of shape {X.shape[1:]} (X.shape={X.shape}); "
                f"expected {expected}, the shape seen by fit"
            )
        dtype = OUTPUT_DTYPES[self.dtype]
        flat = X.reshape(X.shape[0], -1)  # (m, n)
        out = np.multiply(flat, dtype(self.scale), dtype=dtype)  # new (m, n) array
        if self.standardize:
            out -= self.mean_
            out /= self.std_
        return out

    def fit_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def get_state(self) -> dict[str, Any]:
        """The fitted step as a flat dict: np.ndarray values plus JSON-able scalars.

        Keys: "kind" (str, "ImagePreprocessor"), "version" (int), "scale" (float),
        "standardize" (bool), "dtype" (str), "eps" (float), "input_shape" (int64 array, (k,)),
        and, only when standardising, "mean" and "std" ((n_features,) arrays of ``dtype``).
        """
        shape = self._fitted_shape()
        state: dict[str, Any] = {
            "kind": _STATE_KIND,
            "version": _STATE_VERSION,
            "scale": self.scale,
            "standardize": self.standardize,
            "dtype": self.dtype,
            "eps": self.eps,
            "input_shape": np.asarray(shape, dtype=np.int64),
        }
        if self.standardize:
            state["mean"] = np.array(self.mean_, copy=True)
            state["std"] = np.array(self.std_, copy=True)
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ImagePreprocessor:
        """Rebuild a fitted step from ``get_state()``'s dict (0-d arrays accepted as scalars).

        Raises ValueError naming the key when the dict is incomplete or inconsistent.
        """
        missing = [
            k
            for k in ("kind", "scale", "standardize", "dtype", "eps", "input_shape")
            if k not in state
        ]
        if missing:
            raise ValueError(f"preprocessor state lacks {missing}; got keys {sorted(state)}")
        kind = _scalar(state["kind"])
        if kind != _STATE_KIND:
            raise ValueError(f"preprocessor state is of kind {kind!r}; expected {_STATE_KIND!r}")
        version = int(_scalar(state.get("version", _STATE_VERSION)))
        if version > _STATE_VERSION:
            raise ValueError(
                f"preprocessor state has version {version}; this nnscratch reads up to "
                f"{_STATE_VERSION}"
            )
        step = cls(
            scale=float(_scalar(state["scale"])),
            standardize=bool(_scalar(state["standardize"])),
            dtype=str(_scalar(state["dtype"])),
            eps=float(_scalar(state["eps"])),
        )
        shape = np.asarray(state["input_shape"])
        if shape.ndim != 1 or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise ValueError(
                f"preprocessor state 'input_shape' is {shape!r}; expected a 1-d array of "
                "non-negative integers"
            )
        step.input_shape_ = tuple(int(d) for d in shape)
        if step.standardize:
            n = step.n_features_
            dtype = OUTPUT_DTYPES[step.dtype]
            for key in ("mean", "std"):
                value = np.asarray(state.get(key))
                if value.shape != (n,) or value.dtype != dtype:
                    raise ValueError(
                        f"preprocessor state {key!r} has shape {value.shape} dtype {value.dtype}; "
                        f"expected ({n},) {step.dtype}"
                    )
            step.mean_ = np.array(state["mean"], copy=True)
            step.std_ = np.array(state["std"], copy=True)
            if not (np.isfinite(step.std_).all() and (step.std_ > 0).all()):
                raise ValueError("preprocessor state 'std' holds values that are not finite > 0")
        return step


class _FromState(Protocol):
    """A preprocessing class: rebuilds its fitted step from a ``get_state()`` dict."""

    def from_state(self, state: dict[str, Any]) -> Any: ...


#: Preprocessing classes by the "kind" their ``get_state()`` records; each has ``from_state``.
PREPROCESSORS: dict[str, _FromState] = {_STATE_KIND: ImagePreprocessor}


def preprocessor_from_state(state: dict[str, Any]):
    """The fitted step a ``get_state()`` dict describes, rebuilt by the class its "kind" names.
    Raises ValueError for an unknown kind (naming the known ones) or a bad state."""
    kind = state.get("kind")
    if not isinstance(kind, str) or kind not in PREPROCESSORS:
        raise ValueError(f"unknown preprocessor kind {kind!r}; known: {', '.join(PREPROCESSORS)}")
    return PREPROCESSORS[kind].from_state(state)


def _scalar(value: Any) -> Any:
    """A Python scalar from a scalar or a 0-d array (what np.load gives back)."""
    if isinstance(value, np.ndarray | np.generic):
        if value.ndim != 0:
            raise ValueError(
                f"expected a scalar in the preprocessor state; got shape {value.shape}"
            )
        return value.item()
    return value
