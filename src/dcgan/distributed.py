"""Multi-process training on PyTorch's own distributed engine: torchrun starts the processes, torch.distributed
connects them (NCCL on CUDA, gloo on CPU) and DistributedDataParallel averages the gradients.

    torchrun --nproc-per-node 2 -m dcgan train ...        # one machine
    dcgan train --nproc 2 ...                              # the same, launched for you
    torchrun --nnodes 2 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
             --nproc-per-node 8 -m dcgan train ...          # several machines (docs/scaling.md)
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.distributed as dist

from dcgan.errors import ConfigError, DcganError
from dcgan.lifeline import children, die_with_parent, preexec_die_with_parent

# Collectives that wait longer than this fail instead of hanging forever when a rank has died.
DEFAULT_TIMEOUT_S = 300
# What a process's collective raises when another process ended first (crashed, killed): gloo's lost connection,
# torch.distributed's network and store errors. Its own words ("[.../pair.cc:561] Connection closed by peer
# [127.0.0.1]:32680. ... GLHF!") name no cause: the process that failed leaves its error (tell_failure).
PEER_GONE_SIGNS = ("Connection closed by peer", "Connection reset by peer")
PEER_FAILED = "another training process failed first; its own output says why"
# Where a failing process leaves its error for the others: a key in the process group's store (torchrun's).
FAILURE_KEY = "dcgan/failure"


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process is rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ and "LOCAL_RANK" in os.environ


def init_from_env(device_kind: str, timeout_s: int = DEFAULT_TIMEOUT_S) -> World:
    """Join the process group torchrun described in the environment (RANK, WORLD_SIZE, MASTER_ADDR, ...)."""
    if not launched_by_torchrun():
        return World()
    die_with_parent()  # a training process whose torchrun is gone stops (SIGTERM: after its step, with a checkpoint)
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return world


def current_world() -> World:
    """The world of an already initialised process group (the Python API: users may init it themselves)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return World(dist.get_rank(), dist.get_world_size(), local)


def all_mean(values: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of a tensor over all processes (for reporting metrics of the whole global batch)."""
    if world.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= world.size
    return values


def main_value(value: int, world: World, device: torch.device) -> int:
    """Rank 0's integer on every process: a seed drawn at random on each must be one seed, or the processes would
    split different orders of the data (an epoch would see some images twice and miss others)."""
    if not world.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())


# How long the other processes wait for rank 0's own work (an evaluation: minutes with many samples on a slow
# device): a day, not the collectives' timeout. A rank 0 that died is torchrun's to report, at once.
MAIN_WORK_TIMEOUT = datetime.timedelta(days=1)
_waiting_groups: dict[int, dist.ProcessGroup] = {}


def wait_for_main(world: World) -> None:
    """Every process returns once all are here: the others wait for rank 0's work (an evaluation), on a gloo group
    of their own whose timeout is MAIN_WORK_TIMEOUT, so the collectives' DEFAULT_TIMEOUT_S still stops a hang."""
    if not world.distributed:
        return
    key = id(dist.group.WORLD)  # one per process group (the Python API may make a new one)
    if key not in _waiting_groups:
        _waiting_groups[key] = dist.new_group(backend="gloo", timeout=MAIN_WORK_TIMEOUT)
    dist.barrier(group=_waiting_groups[key])


def any_process(flag: bool, world: World, device: torch.device) -> bool:
    """True on every process when it is True on any (a stop request reaches all ranks at the same step)."""
    if not world.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class PeerFailed(DcganError):
    """This process's collective failed because another training process ended first (it says its own error)."""

    exit_code = 1


def peer_failed(error: BaseException) -> bool:
    """Whether `error` is this process's collective failing because another training process ended first."""
    return isinstance(error, (dist.DistNetworkError, dist.DistStoreError)) or any(
        sign in str(error) for sign in PEER_GONE_SIGNS)


def tell_failure(message: str) -> None:
    """Leave this process's failure in the process group's store, where the others read it (told_failure): they
    see only their connection to it close. Best effort: a store gone leaves them PEER_FAILED."""
    with contextlib.suppress(Exception):
        _store().set(FAILURE_KEY, message)


def told_failure() -> str | None:
    """The failure another process left with tell_failure, if it left one."""
    try:
        store = _store()
        return store.get(FAILURE_KEY).decode() if store.check([FAILURE_KEY]) else None
    except Exception:  # the store went with the process that held it
        return None


def _store() -> dist.Store:
    from torch.distributed.distributed_c10d import _get_default_store

    return _get_default_store()


def finish_together() -> None:
    """Wait until every process has ended its run, before the process group is torn down: a rank that tore it
    down while another still wrote its last checkpoint was seen to abort in gloo's teardown ("terminate called
    without an active exception", exit -6). Only on success: after an error the others may never arrive."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        # The trainer's DDP wrappers (their reducers hold the process group) sit in reference cycles: freed here,
        # while the group lives, not at interpreter exit after it is destroyed, where a rank was seen to abort in
        # gloo's teardown ("terminate called without an active exception", exit -6, after a finished run).
        gc.collect()
        dist.destroy_process_group()


def lr_scale(rule: str, world_size: int) -> float:
    """Learning-rate multiplier for an effective batch world_size times larger: none, linear (Goyal et al.
    2017) or sqrt (Krizhevsky 2014)."""
    return {"none": 1.0, "linear": float(world_size), "sqrt": world_size ** 0.5}[rule]


# torchrun as `dcgan train --nproc` runs it: torch.distributed.run's own agent, through torchrun_quietly.
TORCHRUN = ("import sys; from dcgan.distributed import torchrun_quietly; sys.exit(torchrun_quietly(sys.argv[1:], "
            "lambda line: print(line, file=sys.stderr, flush=True)))")


def torchrun_quietly(argv: Sequence[str], say: Callable[[str], None]) -> int:
    """torchrun (torch.distributed.run's parse_args and run, as its console script calls them) ending in an exit
    code instead of its ChildFailedError report and traceback, about 30 lines that named no cause: rank 0 says a
    failure (its own, or the one another process left with tell_failure), so only a process killed by a signal,
    which cannot (the out-of-memory killer's SIGKILL), is said here, through `say` (the launcher's stderr). 1 when a
    process failed, 128 + N when torchrun itself got signal N (its processes stopped after their step, with a
    checkpoint)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(list(argv))
    try:
        run(args)
    except ChildFailedError as e:
        for rank, failure in sorted(e.failures.items()):
            # SIGTERM is torchrun's own, to the others once one failed (a trainer takes it for a stop otherwise).
            if failure.exitcode < 0 and -failure.exitcode not in (signal.SIGTERM, signal.SIGINT):
                name = failure.signal_name()
                why = " (the out-of-memory killer, or kill -9)" if name == "SIGKILL" else ""
                say(f"dcgan train: error: training process {rank} of {args.nproc_per_node} was killed by {name}"
                    f"{why}; torchrun stopped the others: `dcgan train --resume RUN_DIR` continues from the "
                    f"run's last checkpoint")
        return 1
    except SignalException as e:
        return 128 + int(e.sigval)
    return 0


def run_torchrun(nproc: int, argv: Sequence[str], limit: int | None = None) -> int:
    """`dcgan train --nproc N ...`: relaunch this command under torchrun with N processes on this machine (at most
    `limit`, the machine's CPU cores or GPUs, unless None); returns torchrun's exit code (0: every process
    finished, else one failed and torchrun stopped the others; 130 (143) when a Ctrl-C (SIGTERM) stopped them,
    each after its step and the checkpoint, as the shell reports an interrupted command)."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {nproc}")
    if limit is not None:
        from dcgan.budget import check_processes

        check_processes(nproc, limit, "--nproc", force="--force-nproc")
    command = [sys.executable, "-c", TORCHRUN, "--standalone", f"--nproc-per-node={nproc}", "-m", "dcgan", *argv]
    # torchrun ends with this launcher however it ends (its training processes end with torchrun in turn). It
    # runs in a session of its own: torchrun takes a Ctrl-C for a failure (it kills its processes after 30 s and
    # exits 1 with a traceback), so the terminal's Ctrl-C (or a SIGTERM) comes to this launcher alone, which
    # passes it to each training process: they finish the step, write the checkpoint and end with 0, and torchrun
    # with them. A second Ctrl-C passed on the same way aborts them.
    launcher = subprocess.Popen(command, preexec_fn=preexec_die_with_parent, start_new_session=True)
    received: list[int] = []

    def pass_on(signum, frame):
        received.append(signum)
        for pid in children(launcher.pid) or [launcher.pid]:  # torchrun itself only before it started them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = launcher.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # Stopped as asked (an abort, by a second Ctrl-C, too): the code the shell gives an interrupted command.
    return 128 + received[0] if received and (code == 0 or len(received) > 1) else code
