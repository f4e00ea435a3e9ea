"""One module per `dcgan` command, each with `register(parser)` (its description and options); listed in
dcgan.cli.COMMANDS with the line `dcgan --help` gives it."""


def add_checkpoint_option(parser) -> None:
    """--checkpoint, as every command that reads a run takes it (resolved by dcgan.rundir.checkpoint_in)."""
    parser.add_argument("--checkpoint", metavar="FILE", help="a checkpoint of the run instead of its last: a file, "
                        "or its name in the run's checkpoints/ (step-0001000.pt)")
