"""Learning: the loop that turns gradients into better parameters.

    step.py             train_step: one batch's forward -> cost -> backward -> update
    loop.py             the loop of epochs and batches (the article's L_layer_model)
    fit.py              fit: the run's setup around the loop (arguments, validation, resume)
    state.py            History and TrainingState (what a run recorded, where it stands)
    batches.py          the (mini-)batches of an epoch
    split.py            the stratified validation split
    randomness.py       the run's independent random streams
    regularization.py   the L2 penalty
    optimizers.py       parameter updates (update_parameters, momentum, Adam, ...)
    schedules.py        learning rate as a function of the step
    callbacks.py        hooks into the loop (early stopping, printing the cost)
    augment.py          random mirror images while training

Imports ``nnscratch.nn`` and ``nnscratch.base``.
"""
