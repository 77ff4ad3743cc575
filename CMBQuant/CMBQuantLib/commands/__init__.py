"""The ``cmbquant`` command: the CLI, its subcommands, the demo and the phantom command."""
