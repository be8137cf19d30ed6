"""The maths of a network, to read first: forward and backward, written by hand.

    activations.py   g(z) and g'(z), side by side           (the article's sigmoid, relu, ...)
    initializers.py  initial weights                          (initialize_parameters_deep)
    layers/          one forward/backward pair per layer      (linear_forward, linear_backward)
    losses.py        costs fused with the output activation   (compute_cost, dAL -> dZ_L)
    model.py         Sequential: layers + loss, the one model  (L_model_forward/_backward)
    metrics.py       accuracy
    gradcheck.py     finite-difference checks of backward

Imports only ``nnscratch.base``. Training is in ``nnscratch.train``; the networks users build
from these pieces (each a ``Sequential`` with ``fit``) are in ``nnscratch.models``.
"""
