"""The networks users build: ``Network`` (the article's L-layer network), ``ConvNetwork`` and
``Ensemble``, each the maths of ``nnscratch.nn`` plus ``fit`` from ``nnscratch.train``.
"""
