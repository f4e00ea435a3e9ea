"""One module per `dcgan` command, each with `register(parser)` (its description and options); listed in
dcgan.cli.COMMANDS with the line `dcgan --help` gives it."""


def add_checkpoint_option(parser) -> None:
    """--checkpoint, as every command that reads a run takes it (resolved by dcgan.rundir.checkpoint_in)."""
    parser.add_argument("--checkpoint", metavar="FILE", help="a checkpoint of the run instead of its last: a file, "
                        "or its name in the run's checkpoints/ (step-0001000.pt)")


CLASS_HELP = "class to draw, for a conditional run: a number or a name (sneaker, seven)"


def add_generator_options(parser, class_help: str = CLASS_HELP) -> None:
    """What every command that draws from a generator takes: the run or file, --class, --checkpoint, --device."""
    parser.add_argument("target", help="runs/<name>, a checkpoint .pt file or a generator.safetensors")
    parser.add_argument("--class", dest="class_id", metavar="K", help=class_help)
    add_checkpoint_option(parser)
    parser.add_argument("--device", default="cpu", help="device to generate on (default: cpu)")


def open_generator(args):
    """The generator add_generator_options names (its --checkpoint, on its --device) and its --class as a class id
    (None when none was given; a number or a name, one error listing the classes when it has no such class)."""
    from dcgan.device import resolve_device
    from dcgan.rundir import checkpoint_in
    from dcgan.sampling import load_generator

    g = load_generator(checkpoint_in(args.target, args.checkpoint) or args.target, device=resolve_device(args.device))
    return g, (g.class_id(args.class_id) if args.class_id is not None else None)


def class_label(g, k: int) -> str:
    """Class k as a line shows it: 7 (Sneaker), 7 (seven) for MNIST's "7 - seven", 7 where it has no name."""
    from dcgan.latent import class_word

    name = class_word(g.classes[k])
    return f"{k} ({name})" if name != str(k) else str(k)
