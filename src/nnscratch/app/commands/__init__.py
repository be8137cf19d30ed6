"""One module per ``nnscratch`` subcommand; see ``nnscratch.app.cli`` for the interface."""
