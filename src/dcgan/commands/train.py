"""`dcgan train`: a new run from a preset and options, or `--resume` of a stopped run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from dcgan.config import PRESETS, TrainConfig, field_type, fork_base
from dcgan.configfile import compose, config_format, format_config
from dcgan.errors import ConfigError, DcganError

# Options that may change when a run is resumed; everything else is fixed by the run's config.json.
RESUME_OPTIONS = ("steps", "epochs", "device", "minutes", "wandb")
# Set by how training is launched (--nproc, torchrun), not chosen: checked against it, then left to the trainer.
LAUNCHER_OPTIONS = ("world_size",)
# A run folder's files, by their names in dcgan.rundir (importing it imports torch, and these checks come first).
CONFIG_FILE, CHANGES_FILE, RECORD_FILE = "config.json", "changes.json", "run.json"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, generated from the dataclass: names, types and help stay in sync.

    Defaults are suppressed so that only options the user typed override a preset or a resumed run.
    """
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        base, _ = field_type(f)
        group_name = f.metadata.get("group", "options")
        group = groups.setdefault(group_name, parser.add_argument_group(f"{group_name} options"))
        # A default of None is explained by the help itself ("default: the dataset's native channels").
        shown = f" (default: {f.default})" if f.default is not None else ""
        help_text = f"{f.metadata['help']}{shown}".replace("%", "%%")  # argparse formats help
        if base is bool:
            group.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            choices = f.metadata.get("choices")
            metavar = "{" + ",".join(str(c) for c in choices) + "}" if choices else f.name.upper()
            group.add_argument(flag(f.name), dest=f.name, type=base, default=argparse.SUPPRESS, help=help_text,
                               metavar=metavar)


def given_config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config options the user typed (defaults are suppressed by the parser), less the launcher's
    (check_world_size has checked them)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}.difference(LAUNCHER_OPTIONS)
    return {k: v for k, v in vars(args).items() if k in names}


def register(p) -> None:
    p.description = ("Train a DCGAN. Options given on the command line override a config file, "
                     "whose options override the preset.")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a named preset")
    p.add_argument("--config", metavar="FILE", help="read options from a TOML or JSON file: any option below by "
                   "its field name (batch_size = 32) and preset = NAME; options typed here win over the file, the "
                   "file over the preset. `--dry-run > my.toml` writes one")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint; "
                   "--steps/--epochs (a larger total) extend it, --device moves it, --minutes sets this session's "
                   "time budget, --wandb/--no-wandb turn W&B logging on or off")
    p.add_argument("--fork", metavar="RUN_DIR", help="start a new run from a checkpoint of another run (its "
                   "weights, optimisers and step), with the options given here changed")
    p.add_argument("--checkpoint", metavar="FILE", help="with --resume or --fork: this checkpoint instead of the "
                   "run's last (a file, or a name in the run's checkpoints/ such as step-0001000.pt)")
    p.add_argument("--run-dir", help="the run folder (default: runs/<dataset>-<size>-<time>)")
    p.add_argument("--runs-dir", default="runs", help="where auto-named runs go (default: runs)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the options, the data and the device and run one step, then print the config as "
                   "a file --config reads (TOML, or JSON when --config was JSON) on stdout, the model summary and "
                   "the step on stderr; nothing is printed on stdout when a check fails. Writes no run folder and "
                   "no decode cache (a dataset that is not on this machine is still downloaded, as training "
                   "would)")
    p.add_argument("--no-progress", action="store_true", help="plain lines instead of a progress bar: a "
                   "logged step's numbers every 10 s and at the end (as when the output is not a terminal)")
    p.add_argument("--nproc", type=int, metavar="N", help="train with N processes on this machine (launches "
                   "torchrun; for several machines run torchrun yourself, see the README); at most one per CPU core, "
                   "or per GPU on CUDA")
    p.add_argument("--force-nproc", action="store_true", help="launch --nproc processes even when they are more "
                   "than this machine's CPU cores or GPUs")
    add_config_options(p)
    p.set_defaults(func=run, imports_first=False)


def run(args: argparse.Namespace) -> int:
    # The options are checked before torch is imported (seconds), so a wrong one is said at once.
    chosen = checked_options(args)
    check_world_size(args, chosen)
    from dcgan.cli import import_torch

    import_torch()
    from dcgan import distributed

    if args.nproc is not None and not distributed.launched_by_torchrun():
        from dcgan.budget import machine_processes

        limit = None if args.force_nproc else machine_processes(getattr(args, "device", "auto"))
        # Rank 0 says a failure (another process's too, dcgan.distributed.tell_failure), torchrun_quietly a killed
        # process's.
        # run.json records the command the user typed: torchrun's processes see it without --nproc (torchrun
        # would take that for its own --nproc-per-node), so it travels in the environment.
        os.environ[LAUNCH_COMMAND] = typed_command()
        return distributed.run_torchrun(args.nproc, without_option(sys.argv[1:], "--nproc"), limit=limit)
    world = distributed.init_from_env("cuda" if _wants_cuda(args) else "cpu")
    try:
        code = train(args, world, chosen)
        distributed.finish_together()
        return code
    except DcganError as e:  # before training (the data missing on this machine): for rank 0 to say too
        if world.distributed:
            distributed.tell_failure(f"training process {world.rank} of {world.size} failed: {e}")
        raise
    finally:
        distributed.shutdown()


def checked_options(args: argparse.Namespace) -> TrainConfig | None:
    """The options' own checks, none of which needs torch; for a new run, its config composed and checked
    (preset, --config file, options). A resumed or forked run's config is checked against its folder later."""
    if args.resume and args.fork:
        raise ConfigError("give --resume (continue a run) or --fork (a new run from one), not both")
    if args.config and (args.resume or args.fork):
        raise ConfigError("--config starts a new run; a resumed run keeps its config.json, and a fork takes the "
                          "options it changes on the command line")
    if args.run_dir == "" and not args.resume:
        raise ConfigError("--run-dir is empty: give a new or empty folder for the run, or leave --run-dir out for "
                          "runs/<dataset>-<size>-<time>", field="run_dir")
    if args.resume:
        fixed = sorted(set(resume_changes(args)).difference(RESUME_OPTIONS)) + (["preset"] if args.preset else [])
        if fixed:
            own = run_values(Path(os.path.expanduser(args.resume))).get(fixed[0])
            was = f" at {own}" if own is not None and not isinstance(own, bool) else ""
            raise ConfigError(f"{flag(fixed[0])} cannot change when resuming (the run's config.json fixes it{was}); "
                              f"only {', '.join(map(flag, RESUME_OPTIONS[:-1]))} and {flag(RESUME_OPTIONS[-1])} "
                              "can; fork the run to change others")
        return None
    if args.fork:
        return None
    if args.checkpoint:
        raise ConfigError("--checkpoint goes with --resume RUN_DIR or --fork RUN_DIR")
    return compose(args.preset, args.config, given_config_options(args))


def resume_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options typed with --resume, less those equal to the run's own value (`--seed 0` for a run made with
    seed 0 changes nothing)."""
    own = run_values(Path(os.path.expanduser(args.resume)))
    return {k: v for k, v in given_config_options(args).items()
            if k in RESUME_OPTIONS or k not in own or own[k] != v}


def run_values(run_dir: Path) -> dict[str, Any]:
    """A run's options as it trains them: config.json's choices with its live changes applied, the seed from
    run.json and the values derived for options left unset (image_size from the dataset, ...); empty when the
    folder holds no readable run (resuming it says why)."""
    def read(name: str, kind: type) -> Any:
        try:
            value = json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, kind) else None

    values = read(CONFIG_FILE, dict)
    if values is None:
        return {}
    try:
        values = fork_base(values, read(CHANGES_FILE, list) or [], math.inf)
        if values.get("seed") is None:
            values["seed"] = (read(RECORD_FILE, dict) or {}).get("seed")
        derived = TrainConfig.from_saved(values).resolved("cpu").to_dict()
    except (ConfigError, TypeError, KeyError):  # a damaged run: resuming it says what is wrong
        derived = {}
    return {k: derived.get(k) if v is None else v for k, v in values.items()}


def launched_processes(args: argparse.Namespace) -> int:
    """How many training processes this command is: torchrun's WORLD_SIZE when torchrun started it, else --nproc's
    N (it launches them), else 1."""
    if all(name in os.environ for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK")):
        return int(os.environ["WORLD_SIZE"])
    return args.nproc if args.nproc is not None else 1


def check_world_size(args: argparse.Namespace, chosen: TrainConfig | None) -> None:
    """--world-size (or world_size in a config file) is the number of processes training is launched as; a value
    the launch does not give is refused, not silently replaced. A file's world_size = 1, which every dry run
    writes, leaves it to the launch."""
    typed = getattr(args, "world_size", None)
    if typed is not None:
        wanted, where = typed, f"--world-size {typed}"
    elif chosen is not None and chosen.world_size != 1:
        wanted, where = chosen.world_size, f"{args.config}: world_size = {chosen.world_size}"
    else:
        return
    processes = launched_processes(args)
    if wanted != processes:
        raise ConfigError(f"{where}, but this command trains as {processes} process{'es' * (processes != 1)}: "
                          f"the world size is set by the launch; for {wanted} processes give --nproc {wanted} "
                          f"(this machine) or start it with torchrun (README, \"Scaling out\")",
                          field="world_size")


def _wants_cuda(args: argparse.Namespace) -> bool:
    import torch

    return getattr(args, "device", "auto") in ("auto", "cuda") and torch.cuda.is_available()


def without_option(argv: list[str], name: str) -> list[str]:
    """argv without `name VALUE` or `name=VALUE`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


LAUNCH_COMMAND = "DCGAN_LAUNCH_COMMAND"


def typed_command() -> str:
    return "dcgan " + shlex.join(sys.argv[1:])


def train(args: argparse.Namespace, world, chosen: TrainConfig | None) -> int:
    """Train as the options say; `chosen`: a new run's config (checked_options), None to resume or fork."""
    from dcgan import distributed
    from dcgan.console import ConsoleProgress
    from dcgan.runfiles import RunWriters
    from dcgan.training import Trainer

    given = given_config_options(args)
    origin = (os.environ.get(LAUNCH_COMMAND) if distributed.launched_by_torchrun() else None) or typed_command()
    writers = RunWriters()  # the run files, TensorBoard and W&B as the config asks
    if args.resume:
        trainer = Trainer.resume(args.resume, checkpoint=args.checkpoint, origin=origin, writers=writers,
                                 **resume_changes(args))
    elif args.fork:
        trainer = Trainer.fork(args.fork, given, checkpoint=args.checkpoint, run_dir=args.run_dir,
                               runs_dir=args.runs_dir, origin=origin, writers=writers)
    else:
        trainer = Trainer(chosen, run_dir=args.run_dir, runs_dir=args.runs_dir, write_files=not args.dry_run,
                          origin=origin, writers=writers)
    if args.dry_run:
        return dry_run(trainer, args, world.is_main, chosen)
    if world.is_main:
        trainer.subscribe(ConsoleProgress(bar=not args.no_progress))
    try:
        trainer.setup()
        with graceful_interrupt(trainer.request_stop, quiet=not world.is_main) as interrupt:
            status = trainer.run()
    except OSError as e:  # a full or read-only disk: the checkpoints written before it are whole
        from dcgan.errors import DiskError, disk_error
        from dcgan.rundir import RunFolder

        kept = RunFolder(trainer.run_dir).last_checkpoint_step() if trainer.run_dir else None
        then = f"; then continue from step {kept} with --resume {trainer.run_dir}" if kept is not None else ""
        raise DiskError(disk_error(e) + then) from None
    except Exception as e:  # another process failed, and says why: this one says only that (no traceback)
        if not (world.distributed and distributed.peer_failed(e)):
            raise
        if trainer.status != "failed" and world.is_main:  # before training: the trainer has not said it (rank 0
            # says it; another rank would only repeat it)
            raise distributed.PeerFailed(distributed.told_failure() or distributed.PEER_FAILED) from None
        distributed.shutdown()  # broken: nothing for finish_together to wait for
        return 1
    if world.is_main:
        print(f"run folder: {trainer.run_dir}")
        if status != "failed":  # a failure's own message says what to do
            print(next_steps(trainer), file=sys.stderr)
    if status == "stopped" and interrupt.signum is not None and not world.distributed:
        # 130 after Ctrl-C, 143 after SIGTERM, as the shell reports an interrupted command, so a script can tell
        # the run did not end; torchrun's processes end with 0 (torchrun takes any other code for a failure).
        return 128 + interrupt.signum
    return 0 if status in ("finished", "stopped") else 1


def next_steps(trainer) -> str:
    """What to do after a run: where its pictures are and the command that makes more, or the one that continues
    it when it stopped before its last step (Ctrl-C, --minutes)."""
    from dcgan.rundir import PROGRESS_FILE, SAMPLES

    run = shlex.quote(str(trainer.run_dir))
    if trainer.step < trainer.total_steps:
        return f"continue it: dcgan train --resume {run}"
    # The grids animated, else (a run too short for the animation) the folder of grids.
    grids = next((trainer.run_dir / name for name in (PROGRESS_FILE, SAMPLES) if (trainer.run_dir / name).exists()),
                 None)
    by_class = " --by-class" if trainer.config.conditional else ""  # a row per class, each named
    return (f"look at {grids}; " if grids else "") + f"more samples: dcgan generate {run}{by_class} --grid samples.png"


def dry_run(trainer, args: argparse.Namespace, is_main: bool, chosen: TrainConfig | None) -> int:
    """Check what a run would (its folder, the data, the device), run one step, and only then print the config
    on stdout, as a file --config reads back (`> my.toml` saves it; a failed check leaves nothing there); the
    model summary and the step on stderr. Of several processes (--nproc), the first prints."""
    from dcgan.data import load_dataset
    from dcgan.summary import architecture, format_table
    from dcgan.vocabulary import label

    trainer.check_run_dir()  # the folder the run would train in
    trainer.write_files = False  # also for a resumed or forked run: no session, config or folder is written
    cfg = trainer.config
    if trainer.data is None:  # a folder's or CelebA's decoded images are not cached by a dry run
        trainer.data = load_dataset(cfg.dataset, cfg.data_dir, cfg.image_size, cfg.channels, cache=False)
    trainer.setup()
    real, labels = trainer.next_batch()
    out = trainer.train_step(real, labels, with_after=True)
    if not is_main:
        return 0
    arch = architecture(trainer.config)
    for name in ("generator", "discriminator"):
        print(format_table(f"{name}:", arch[name]["layers"], arch[name]["params"]), file=sys.stderr)
    print(f"device: {trainer.device}", file=sys.stderr)
    print("one step: " + ", ".join(f"{label(k)} {float(v):.4f}" for k, v in out.items()), file=sys.stderr)
    fmt = config_format(args.config) if args.config else "toml"
    print(format_config(chosen or trainer.choices, fmt, resolved=trainer.config), end="", flush=True)
    return 0


class graceful_interrupt:
    """First Ctrl-C (or SIGTERM): finish the step, checkpoint and stop. Second Ctrl-C: abort at once."""

    def __init__(self, request_stop: Callable[[], None], quiet: bool = False):
        self.request_stop = request_stop
        self.quiet = quiet  # the other training processes of a run: the first says it for them all
        self.previous: Any = None
        self.signum: int | None = None  # the signal that asked for the stop, if one did

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            self.signum = signum
            if not self.quiet:
                print("\nstopping after this step and writing a checkpoint (Ctrl-C again to abort)", file=sys.stderr)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.request_stop()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return False
