"""The application on top: the cat recipe, run directories, plots, progress bars and the
``nnscratch`` command line (``cli`` and one module per subcommand in ``commands``).
"""
