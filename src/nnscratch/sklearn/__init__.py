"""scikit-learn integration (the ``sklearn`` extra): estimators, hyperparameter search and its
Dask backend.
"""
