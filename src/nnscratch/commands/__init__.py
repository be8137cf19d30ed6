"""One module per ``nnscratch`` subcommand; see ``nnscratch.cli`` for the interface."""
