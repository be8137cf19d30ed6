"""One step of training on one batch: the body of the article's ``L_layer_model`` loop.

The article's loop, one iteration::

    AL, caches = L_model_forward(X, parameters)
    cost = compute_cost(AL, Y)
    grads = L_model_backward(AL, Y, caches)
    parameters = update_parameters(parameters, grads, learning_rate)

is ``train_step(net, X, Y, optimizer)`` here; ``fit`` calls it once per (mini-)batch, and
``examples/l_layer_model.py`` calls it in the article's own loop.
"""

from __future__ import annotations

import numpy as np

from nnscratch.train.optimizers import Optimizer
from nnscratch.train.regularization import L2Penalty


def train_step(
    net,
    X: np.ndarray,
    Y: np.ndarray,
    optimizer: Optimizer,
    *,
    learning_rate: float | None = None,
    l2: L2Penalty | None = None,
) -> float:
    """Forward -> cost (+ L2 penalty) -> backward -> optimizer update, on one batch.

    Shapes are samples-first, the transpose of the article's:

        X      (m, n_x) (or (m, H, W, C) images for a CNN), already of the network's dtype
        Y      (m, n_L) encoded targets: ``net.loss.encode_targets(y, net.n_outputs, net.dtype)``
        Z_L    (m, n_L) the output layer's logits: the loss owns the output activation
        dZ_L   (m, n_L) = (A_L - Y) / m, where backward starts (see ``nnscratch.nn.losses``)
        grads  one array per parameter, same key and shape: "W1" (n_1, n_x), "b1" (n_1,), ...

    Args:
        net: the model: ``_cost_and_gradients(X, Y, training)`` -> (cost, grads), which for
            every ``Sequential`` is ``nnscratch.nn.model.cost_and_gradients`` (forward ->
            cost -> backward), and ``parameters`` (the live arrays, updated in place).
        optimizer: moves the parameters (``GradientDescent`` is the article's
            ``update_parameters``: p -= learning_rate * dp).
        learning_rate: this step's learning rate (a schedule's value); None: the optimizer's.
        l2: adds lambda/(2m) sum ||W||^2 to the cost and lambda/m W to each dW.

    Returns:
        The batch's cost before the update, L2 penalty included, as a Python float. When it
        is not finite (NaN or infinite) the parameters are left as they were: no update is
        taken from such gradients, and the caller decides what to do (``fit`` stops with
        ``TrainingDivergedError``). Buffers (batch norm's running statistics) are updated by
        the training-mode forward pass in either case.
    """
    # L_model_forward -> compute_cost -> L_model_backward: nnscratch.nn.model's one chain,
    # through the model's hook (a sequence model runs it in chunks for truncated BPTT)
    cost, grads = net._cost_and_gradients(X, Y, training=True)
    params = net.parameters
    if l2 is not None:
        cost += l2.cost(params)
        l2.add_gradients(params, grads)
    if np.isfinite(cost):
        optimizer.step(params, grads, learning_rate=learning_rate)  # update_parameters
    return cost
