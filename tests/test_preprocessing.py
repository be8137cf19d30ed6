"""Tests of nnscratch.data.preprocessing.ImagePreprocessor."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from nnscratch.data.preprocessing import ImagePreprocessor


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 4, 5, 3), dtype=np.uint8)  # (m, H, W, C)


def test_flatten_and_scale(images: np.ndarray) -> None:
    out = ImagePreprocessor().fit_transform(images)
    assert out.shape == (12, 60) and out.dtype == np.float32
    np.testing.assert_allclose(out, images.reshape(12, -1) / 255.0, rtol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_flattening_order_is_per_example(images: np.ndarray) -> None:
    out = ImagePreprocessor(scale=1.0).fit_transform(images)
    np.testing.assert_array_equal(out[3], images[3].ravel())


def test_two_d_input_and_custom_scale() -> None:
    X = np.arange(6, dtype=np.int64).reshape(3, 2)
    pre = ImagePreprocessor(scale=0.5, dtype="float64")
    out = pre.fit_transform(X)
    assert pre.input_shape_ == (2,) and pre.n_features_ == 2
    np.testing.assert_array_equal(out, X * 0.5)
    assert out.dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.float64])
def test_output_dtype(images: np.ndarray, dtype: object) -> None:
    pre = ImagePreprocessor(standardize=True, dtype=dtype)
    out = pre.fit_transform(images)
    assert out.dtype == np.dtype(dtype)
    assert pre.mean_ is not None and pre.mean_.dtype == np.dtype(dtype)


def test_float64_input_gives_float32_output(images: np.ndarray) -> None:
    out = ImagePreprocessor().fit_transform(images.astype(np.float64))
    assert out.dtype == np.float32


def test_standardize_statistics_come_from_training_data(images: np.ndarray) -> None:
    train, test = images[:8], images[8:]
    pre = ImagePreprocessor(standardize=True, dtype="float64").fit(train)
    scaled = train.reshape(8, -1) / 255.0
    np.testing.assert_allclose(pre.mean_, scaled.mean(axis=0))
    np.testing.assert_allclose(pre.std_, scaled.std(axis=0))
    out_train = pre.transform(train)
    np.testing.assert_allclose(out_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out_train.std(axis=0), 1.0, rtol=1e-12)
    # the test set is transformed with the training mean/std, not its own
    expected = (test.reshape(4, -1) / 255.0 - scaled.mean(axis=0)) / scaled.std(axis=0)
    np.testing.assert_allclose(pre.transform(test), expected, rtol=1e-12, atol=1e-12)
    # transforming does not refit
    before = pre.mean_.copy()
    pre.transform(test)
    np.testing.assert_array_equal(pre.mean_, before)


def test_constant_pixel_does_not_divide_by_zero() -> None:
    X = np.zeros((5, 2, 2, 1), np.uint8)
    X[:, 0, 0, 0] = [0, 50, 100, 150, 200]  # one varying pixel, three constant ones
    pre = ImagePreprocessor(standardize=True, eps=1e-3)
    out = pre.fit_transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 1:], 0.0)
    assert pre.std_ is not None and (pre.std_[1:] == np.float32(1e-3)).all()
    test = np.full((1, 2, 2, 1), 1, np.uint8)
    assert np.isfinite(pre.transform(test)).all()


def test_shape_mismatch(images: np.ndarray) -> None:
    pre = ImagePreprocessor().fit(images)
    assert pre.input_shape_ == (4, 5, 3)
    with pytest.raises(
        ValueError, match=r"got examples of shape \(5, 4, 3\).*expected \(4, 5, 3\)"
    ):
        pre.transform(images.reshape(12, 5, 4, 3))
    with pytest.raises(ValueError, match=r"got examples of shape \(60,\)"):
        pre.transform(images.reshape(12, 60))


def test_bad_inputs(images: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ImagePreprocessor().transform(images)
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        ImagePreprocessor().fit(np.zeros(5))
    with pytest.raises(ValueError, match="at least one example"):
        ImagePreprocessor().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="dtype <U1"):
        ImagePreprocessor().fit(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"'float16' is not supported.*\['float32', 'float64'\]"):
        ImagePreprocessor(dtype="float16")
    with pytest.raises(ValueError, match="scale must be finite and nonzero"):
        ImagePreprocessor(scale=0)
    with pytest.raises(ValueError, match="eps must be"):
        ImagePreprocessor(eps=-1.0)


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_round_trip_exact(images: np.ndarray, standardize: bool, dtype: str) -> None:
    pre = ImagePreprocessor(standardize=standardize, dtype=dtype, scale=1 / 127.5).fit(images)
    state = pre.get_state()
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    assert set(arrays) == ({"input_shape", "mean", "std"} if standardize else {"input_shape"})
    # the way a model file stores it: arrays in an .npz (no pickle), scalars as JSON
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        restored = {**json.loads(json.dumps(scalars)), **{k: npz[k] for k in npz.files}}
    again = ImagePreprocessor.from_state(restored)
    assert repr(again) == repr(pre) and again.input_shape_ == pre.input_shape_
    np.testing.assert_array_equal(again.transform(images), pre.transform(images))
    if standardize:
        np.testing.assert_array_equal(again.mean_, pre.mean_)
        np.testing.assert_array_equal(again.std_, pre.std_)


def test_state_scalars_from_npz_as_0d_arrays(images: np.ndarray) -> None:
    state = ImagePreprocessor(standardize=True).fit(images).get_state()
    zero_d = {k: np.asarray(v) for k, v in state.items()}  # everything through np.savez
    again = ImagePreprocessor.from_state(zero_d)
    assert again.standardize is True and again.dtype == "float32"


def test_state_errors(images: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ImagePreprocessor().get_state()
    state = ImagePreprocessor(standardize=True).fit(images).get_state()
    with pytest.raises(ValueError, match=r"lacks \['scale'\]"):
        ImagePreprocessor.from_state({k: v for k, v in state.items() if k != "scale"})
    with pytest.raises(ValueError, match="kind 'Other'"):
        ImagePreprocessor.from_state({**state, "kind": "Other"})
    with pytest.raises(ValueError, match="version 99"):
        ImagePreprocessor.from_state({**state, "version": 99})
    with pytest.raises(ValueError, match=r"'mean' has shape \(3,\)"):
        ImagePreprocessor.from_state({**state, "mean": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=r"'std' has shape \(\)"):
        ImagePreprocessor.from_state({k: v for k, v in state.items() if k != "std"})
    with pytest.raises(ValueError, match="not finite > 0"):
        ImagePreprocessor.from_state({**state, "std": np.zeros_like(state["std"])})
    with pytest.raises(ValueError, match="input_shape"):
        ImagePreprocessor.from_state({**state, "input_shape": np.array([1.5])})
