"""One module per `dcgan` command, each with `register(subparsers)`; listed in dcgan.cli.COMMANDS."""
