"""The article's ``L_layer_model``, written with the library's pieces.

The article trains a deep network on the cat images with a loop of four calls::

    parameters = initialize_parameters(layers_dims)
    for i in range(num_iterations):
        AL, caches = L_model_forward(X, parameters)
        cost = compute_cost(AL, Y)
        grads = L_model_backward(AL, Y, caches)
        parameters = update_parameters(parameters, grads, learning_rate)

Here the same model is a stack of library layers (``Dense`` for ``linear_forward`` /
``linear_backward``, ``ActivationLayer`` for the activation and its ``*_backward``), the
sigmoid output fused with its cost (``BinaryCrossEntropy``: ``compute_cost``), gradient
descent (``GradientDescent``: ``update_parameters``), and the loop's body is one
``train_step``. With the same seed it trains bitwise the same parameters as
``Network(layer_dims, init="sqrt_n_prev").fit(X, y, iterations=...)``.

Shapes are samples-first (the transpose of the article's): X is (m, 12288), one flattened
64 x 64 x 3 image per row, scaled to [0, 1]; Y is (m, 1); W_l is (n_l, n_{l-1}) as in the
article.

Run it (the data come from $NNSCRATCH_DATA, or are downloaded into the cache)::

    python examples/l_layer_model.py                 # 2500 iterations, as the article
    python examples/l_layer_model.py --iterations 300
"""

from __future__ import annotations

import argparse

import numpy as np

from nnscratch.data.cats import load_cats
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.nn.activations import ReLU
from nnscratch.nn.initializers import get_initializer
from nnscratch.nn.layers import ActivationLayer, Dense
from nnscratch.nn.losses import BinaryCrossEntropy
from nnscratch.nn.metrics import accuracy
from nnscratch.nn.model import cost_and_gradients
from nnscratch.train.optimizers import GradientDescent
from nnscratch.train.step import train_step

LAYERS_DIMS = [12288, 20, 7, 5, 1]  # the article's 4-layer model


class LLayerModel:
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID, as library layers.

    ``train_step`` needs ``forward``, ``backward``, ``loss``, ``parameters`` and the chain
    of the three; this class is only that, so that the article's functions can be read in it
    one by one.
    """

    def __init__(self, layers_dims: list[int], seed: int = 0, dtype=np.float32):
        # initialize_parameters: W_l = randn(n_l, n_{l-1}) / sqrt(n_{l-1}), b_l = 0
        rng = np.random.default_rng(seed)
        init = get_initializer("sqrt_n_prev")
        L = len(layers_dims) - 1
        self.layers = []
        for l in range(1, L + 1):  # noqa: E741 (the article's l)
            self.layers.append(
                Dense(layers_dims[l - 1], layers_dims[l], init=init, rng=rng, dtype=dtype, index=l)
            )
            if l < L:  # the output's sigmoid belongs to the loss
                self.layers.append(ActivationLayer(ReLU(), index=l))
        self.loss = BinaryCrossEntropy()  # sigmoid + compute_cost, from the logits

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """{"W1": (n_1, n_x), "b1": (n_1,), ...}: the live arrays."""
        return {f"{k}{layer.index}": a for layer in self.layers for k, a in layer.params.items()}

    def forward(self, X: np.ndarray, training: bool = False):
        """L_model_forward: linear_activation_forward layer by layer -> (Z_L (m, 1), caches)."""
        A, caches = X, []
        for layer in self.layers:
            A, cache = layer.forward(A, training)
            caches.append(cache)
        return A, caches

    def backward(self, dZ_L: np.ndarray, caches: list) -> dict[str, np.ndarray]:
        """L_model_backward: from dZ_L = (A_L - Y) / m back through every layer -> grads."""
        grads, dA = {}, dZ_L
        for position in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[position]
            dA, layer_grads = layer.backward(dA, caches[position], need_input_grad=position > 0)
            grads.update({f"{k}{layer.index}": g for k, g in layer_grads.items()})
        return grads

    def _cost_and_gradients(self, X: np.ndarray, Y: np.ndarray, training: bool = True):
        """forward -> compute_cost -> backward, the library's one chain (what train_step
        calls): cost_and_gradients(model, ...) runs this model's forward and backward."""
        return cost_and_gradients(self, X, Y, training)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels (m,): 1 where the output logit is > 0, i.e. sigmoid > 1/2."""
        Z_L, _ = self.forward(X)
        return self.loss.decide(Z_L)


def L_layer_model(
    X: np.ndarray,
    y: np.ndarray,
    layers_dims: list[int],
    learning_rate: float = 0.0075,
    num_iterations: int = 3000,
    print_cost: bool = False,
    seed: int = 0,
) -> tuple[LLayerModel, list[float]]:
    """Train an L-layer model on X (m, n_x) float32 and labels y (m,) of 0/1 by full-batch
    gradient descent. Returns the model and the cost of every iteration."""
    model = LLayerModel(layers_dims, seed=seed, dtype=X.dtype)
    Y = model.loss.encode_targets(y, layers_dims[-1], X.dtype)  # (m, 1)
    optimizer = GradientDescent(learning_rate)
    costs = []
    for i in range(num_iterations):
        cost = train_step(model, X, Y, optimizer)  # forward, cost, backward, update
        if not np.isfinite(cost):
            raise ArithmeticError(f"the cost became {cost} at iteration {i}")
        costs.append(cost)
        if print_cost and i % 100 == 0:
            print(f"Cost after iteration {i}: {cost:f}")
    return model, costs


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cat images flattened and scaled to [0, 1]: (209, 12288) and (50, 12288) float32,
    and their labels (m,)."""
    x_train, y_train, x_test, y_test, _ = load_cats(progress=False)
    pre = ImagePreprocessor()  # flatten, / 255
    return pre.fit_transform(x_train), y_train, pre.transform(x_test), y_test


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--learning-rate", type=float, default=0.0075)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X_train, y_train, X_test, y_test = load_data()
    model, costs = L_layer_model(
        X_train,
        y_train,
        LAYERS_DIMS,
        learning_rate=args.learning_rate,
        num_iterations=args.iterations,
        print_cost=True,
        seed=args.seed,
    )
    result = {
        "train_accuracy": accuracy(model.predict(X_train), y_train),
        "test_accuracy": accuracy(model.predict(X_test), y_test),
        "final_cost": costs[-1],
    }
    print(f"Train accuracy: {result['train_accuracy']:.4f}")
    print(f"Test accuracy: {result['test_accuracy']:.4f}")
    return result


if __name__ == "__main__":
    main()
