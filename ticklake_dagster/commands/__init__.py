"""One module per `ticklake` subcommand: `add_arguments(parser)` and `run(args) -> exit code`."""
