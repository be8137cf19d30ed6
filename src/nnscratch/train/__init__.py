"""Learning: the loop that turns gradients into better parameters.

    optimizers.py   parameter updates (update_parameters, momentum, Adam, ...)
    schedules.py    learning rate as a function of the step
    callbacks.py    hooks into the loop (early stopping, printing the cost)
    augment.py      random mirror images while training
    fit.py          the loop (L_layer_model), its state and History

Imports ``nnscratch.nn`` and ``nnscratch.base``.
"""
