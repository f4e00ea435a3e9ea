"""Multi-process training with torchrun + DistributedDataParallel (gloo on this CPU), on real Fashion-MNIST."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import run_cli, until
from dcgan import Trainer, TrainConfig, load_generator
from dcgan.rundir import read_metrics

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def torchrun(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loss_rows(run: Path) -> list[dict]:
    return [r for r in read_metrics(run / "metrics.jsonl") if "loss/D" in r]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    result = torchrun("--standalone", "--nproc-per-node=2", str(WORKER), str(out), "8", "64", cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def unseeded_run(tmp_path_factory):
    """2 processes x 8 images on 64 images (4 steps an epoch) for 2 epochs, without a seed, as a run without
    --seed starts."""
    out = tmp_path_factory.mktemp("ddp-unseeded")
    options = {"seed": None, "images": 64, "g_width": 8, "d_width": 8, "tensorboard": False, "sample_every": 0,
               "checkpoint_every": 100}
    result = torchrun("--standalone", "--nproc-per-node=2", str(WORKER), str(out), "8", "8", json.dumps(options),
                      cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)] + [out / "run"]


def test_a_run_without_a_seed_trains_every_rank_with_rank_0s_seed(unseeded_run):
    """Each process drew a seed of its own: the ranks split different orders of the data, so an epoch saw some
    images twice and missed others."""
    rank0, rank1, run = unseeded_run
    assert rank0["seed"] == rank1["seed"] == json.loads((run / "run.json").read_text())["seed"]


def test_the_ranks_split_one_order_of_the_data_reshuffled_every_epoch(unseeded_run):
    rank0, rank1, _ = unseeded_run
    assert rank0["chunks"] == rank1["chunks"]  # each takes its own half of the same 16 indices (Trainer.batch)
    epochs = [sum(rank0["chunks"][e * 4:(e + 1) * 4], []) for e in (0, 1)]
    assert all(sorted(order) == list(range(64)) for order in epochs)  # every image once per epoch
    assert epochs[0] != epochs[1]


def test_each_rank_draws_its_own_noise(unseeded_run):
    rank0, rank1, _ = unseeded_run
    assert len(rank0["first_noise"]) == 8 and rank0["first_noise"] != rank1["first_noise"]


def weights(path: Path) -> dict[str, torch.Tensor]:
    """G's learned weights. BatchNorm's running statistics are buffers, not weights: each process updates
    them from its own batch, and DDP re-broadcasts rank 0's at every forward."""
    state = torch.load(path, weights_only=True)
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


def test_ranks_hold_identical_generator_weights(two_process_run):
    g0, g1 = weights(two_process_run / "G-rank0.pt"), weights(two_process_run / "G-rank1.pt")
    assert g0.keys() == g1.keys() and len(g0) == 7
    assert all(torch.equal(g0[k], g1[k]) for k in g0)


def test_only_rank_0_writes_files_and_serves_events(two_process_run):
    assert json.loads((two_process_run / "events-rank1.json").read_text()) == []
    events0 = json.loads((two_process_run / "events-rank0.json").read_text())
    assert events0.count("StepMetrics") == 8 and "CheckpointSaved" in events0
    run = two_process_run / "run"
    assert [r["step"] for r in loss_rows(run)] == list(range(1, 9))  # one writer: no step twice
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step-{s:07d}.png" for s in (0, 2, 4, 6, 8)]
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["batch_size"] == 64
    assert "effective batch 128 = 2 process(es) x 64" in (run / "log.txt").read_text()


def test_penalties_and_techniques_train_alike_on_every_rank(tmp_path):
    """WGAN-GP's and R1's penalties differentiate D's gradient (create_graph) through the unwrapped D beside DDP's
    wrapper; with spectral norm, DiffAugment, EMA and classes, both ranks still end with the same G and D weights
    (each rank's own penalty gradients, if left out of the average, would part them)."""
    options = {"loss": "wgan-gp", "r1": 1.0, "spectral_norm": True, "diffaugment": "translation,cutout,color",
               "ema": 0.999, "conditional": True, "d_steps": 2, "g_width": 8, "d_width": 8, "tensorboard": False,
               "sample_every": 0, "checkpoint_every": 100}
    result = torchrun("--standalone", "--nproc-per-node=2", str(WORKER), str(tmp_path), "4", "8",
                      json.dumps(options), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Grad strides do not match" not in result.stderr  # DDP's alarm about the 1-channel weight's strides
    for net in ("G", "D"):
        rank0, rank1 = weights(tmp_path / f"{net}-rank0.pt"), weights(tmp_path / f"{net}-rank1.pt")
        assert rank0.keys() == rank1.keys() and all(torch.equal(rank0[k], rank1[k]) for k in rank0), net
    rows = loss_rows(tmp_path / "run")
    assert len(rows) == 4 and all("penalty/gp" in r and "penalty/r1" in r for r in rows), rows[-1]


def test_the_other_ranks_wait_for_an_evaluation_longer_than_the_collectives_timeout(tmp_path):
    """Rank 0 alone evaluates (--eval-every), for minutes with many samples on a slow device; the others wait
    for it without the timeout that stops a hung collective (here 10 s, against an evaluation of 12 s and more)."""
    options = {"eval_every": 2, "eval_samples": 100, "timeout_s": 10, "eval_sleep_s": 12, "g_width": 8, "d_width": 8,
               "tensorboard": False, "sample_every": 0, "checkpoint_every": 100}
    result = torchrun("--standalone", "--nproc-per-node=2", str(WORKER), str(tmp_path), "2", "8",
                      json.dumps(options), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "eval/fid" in r] == [2]


def test_two_processes_of_64_follow_one_process_of_128(two_process_run, fashion, tmp_path):
    """Gradients averaged over 2 x 64 equal the gradient of the mean over 128, and the processes see the same
    images and noise as one process would; only BatchNorm's batch statistics (over 64 images per process
    instead of 128) differ, so the losses agree closely but not bit for bit."""
    Trainer(TrainConfig(steps=8, batch_size=128, g_width=16, d_width=16, seed=1, log_every=1, tensorboard=False),
            run_dir=tmp_path / "one", data=fashion).run()
    one, two = loss_rows(tmp_path / "one"), loss_rows(two_process_run / "run")
    for a, b in zip(one, two):
        assert a["loss/D"] == pytest.approx(b["loss/D"], rel=2e-2)
        assert a["loss/G"] == pytest.approx(b["loss/G"], rel=2e-2)
    assert one[0]["loss/D"] != two[0]["loss/D"]  # the BatchNorm difference is real, and small


def test_a_two_process_checkpoint_resumes_on_one_process_and_generates(two_process_run, fashion, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(two_process_run / "run", run)
    trainer = Trainer.resume(run, steps=11, data=fashion)
    assert trainer.run() == "finished" and trainer.step == 11
    assert json.loads((run / "config.json").read_text())["world_size"] == 1
    assert ("it trained on 2 processes until now: the effective batch goes from 128 to 64"
            in (run / "log.txt").read_text())
    assert load_generator(run).sample(4, seed=0).tensor.shape == (4, 1, 28, 28)
    result = run_cli("generate", str(run), "-n", "4", "--grid", "g.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_cli_shortcut_launches_torchrun(tmp_path):
    result = run_cli("train", "--nproc", "2", "--steps", "3", "--batch-size", "32", "--g-width", "8", "--d-width",
                     "8", "--seed", "0", "--run-dir", "r", "--no-progress", "--no-tensorboard", cwd=tmp_path,
                     env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "finished"
    assert json.loads((tmp_path / "r" / "config.json").read_text())["world_size"] == 2
    session = json.loads((tmp_path / "r" / "run.json").read_text())["sessions"][0]
    assert session["processes"] == 2
    assert session["command"].startswith("dcgan train --nproc 2 --steps 3 ")  # as typed: it reproduces the run


def test_the_process_group_outlives_the_ddp_wrappers_that_hold_it(tmp_path):
    """The trainer's DDP wrappers (their reducers hold the process group) sit in reference cycles: they were freed
    at interpreter exit, after the group was destroyed, where a rank was seen to abort in gloo's teardown
    ("terminate called without an active exception", exit -6, after "finished"; about one run in a hundred)."""
    (tmp_path / "count.py").write_text(
        "import gc, os, sys\n"
        "import torch.distributed as dist\n"
        "from torch.nn.parallel import DistributedDataParallel\n"
        "destroy = dist.destroy_process_group\n"
        "def counted(*args, **kwargs):\n"
        "    alive = sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects())\n"
        "    open(f'alive-{os.environ[\"RANK\"]}', 'w').write(str(alive))\n"
        "    destroy(*args, **kwargs)\n"
        "dist.destroy_process_group = counted\n"
        "from dcgan.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    result = torchrun("--standalone", "--nproc-per-node=2", "count.py", "train", "--steps", "2", "--batch-size", "32",
                      "--g-width", "8", "--d-width", "8", "--seed", "0", "--run-dir", "r", "--no-progress",
                      "--no-tensorboard", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(tmp_path / f"alive-{rank}").read_text() for rank in (0, 1)] == ["0", "0"]


def test_two_nodes_on_loopback_with_c10d_rendezvous(tmp_path):
    """Two torchrun agents, one process each, meeting at a c10d rendezvous: two "nodes" on one machine, started
    with the same command as docs/scaling.md says."""
    port = free_port()
    common = ["--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
              "--rdzv-id=test", str(WORKER), str(tmp_path), "4", "32"]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *common],
                              cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in (0, 1)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), outputs
    g0, g1 = weights(tmp_path / "G-rank0.pt"), weights(tmp_path / "G-rank1.pt")
    assert all(torch.equal(g0[k], g1[k]) for k in g0)
    assert [r["step"] for r in loss_rows(tmp_path / "run")] == [1, 2, 3, 4]


def documented_torchrun_commands() -> list[list[str]]:
    """Every torchrun command in the README and docs/scaling.md, its continued lines joined, comments dropped."""
    found = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "scaling.md"):
        text = doc.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("torchrun "):
                found.append(shlex.split(line)[1:])
    return found


def test_the_documented_torchrun_commands_mean_what_the_docs_say():
    """torchrun's own parser reads each; the c10d rendezvous numbers the machines as they arrive and ignores
    --node-rank (torchrun warns, and rank 0, which writes the run folder, may be on any machine), so a command
    that gives --node-rank uses the static rendezvous that honours it; dcgan's parser reads what follows -m dcgan."""
    from torch.distributed.run import get_args_parser

    from dcgan.cli import build_parser, parse

    commands = documented_torchrun_commands()
    assert len(commands) >= 4
    for argv in commands:
        args = get_args_parser().parse_args(argv)
        assert args.module and args.training_script == "dcgan", argv
        if any(a.startswith("--node-rank") or a.startswith("--node_rank") for a in argv):
            assert args.rdzv_backend == "static" and args.master_addr != "127.0.0.1", argv
        parse(build_parser(args.training_script_args), args.training_script_args)


def test_a_dead_rank_stops_the_job_with_a_clear_message(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--nproc", "2", "--steps", "100000",
                             "--batch-size", "32", "--g-width", "8", "--d-width", "8", "--run-dir", "r",
                             "--no-progress", "--no-tensorboard", "--checkpoint-every", "5"], cwd=tmp_path,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    until(lambda: list((tmp_path / "r" / "checkpoints").glob("step-*.pt")), "a checkpoint")
    workers = subprocess.run(["pgrep", "-f", "-P", str(_torchrun_pid(proc.pid)), "dcgan"], capture_output=True,
                             text=True).stdout.split()
    assert len(workers) == 2
    os.kill(int(workers[-1]), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)  # the job ends: no hang
    assert proc.returncode != 0
    assert re.search(r"training process \d of 2 was killed by SIGKILL .*--resume", err), err[-3000:]
    assert "ChildFailedError" not in err, err[-3000:]  # torchrun's report, which named no cause
    assert (tmp_path / "r" / "checkpoints" / "last").is_file()


# Started in every process of the test's `dcgan train --nproc 2` (PYTHONPATH): rank 1's step 2 raises.
FAILING_RANK = """
import os
if os.environ.get("RANK") == "1":
    import dcgan.step

    step = dcgan.step.GanStep.__call__

    def failing(self, real, labels, n, *args, **kwargs):
        if n == 2:
            raise RuntimeError("injected failure")
        return step(self, real, labels, n, *args, **kwargs)

    dcgan.step.GanStep.__call__ = failing
"""


# Started in every process of the test's `dcgan train --nproc 2`: from step 2 on, every rank's loss/D is NaN.
DIVERGING = """
import os
if "RANK" in os.environ:
    import dcgan.step

    step = dcgan.step.GanStep.__call__

    def diverging(self, real, labels, n, *args, **kwargs):
        out = step(self, real, labels, n, *args, **kwargs)
        if n >= 2:
            out["loss/D"] = out["loss/D"] * float("nan")
        return out

    dcgan.step.GanStep.__call__ = diverging
"""


def injected(tmp_path: Path, code: str) -> dict[str, str]:
    """The environment of a `dcgan train --nproc 2` whose processes run `code` as they start (sitecustomize)."""
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(code)
    return {**ENV, "PYTHONPATH": str(tmp_path / "inject")}


def test_a_diverged_run_on_two_processes_ends_with_the_trainers_advice_alone(tmp_path):
    """Every rank sees the averaged NaN at the same step and stops; the command's last word is the trainer's
    advice (fork from the last good checkpoint), not a launcher's 'resume it', which would diverge again."""
    result = run_cli("train", "--nproc", "2", "--steps", "50", "--batch-size", "8", "--g-width", "8", "--d-width",
                     "8", "--run-dir", "r", "--no-progress", "--no-tensorboard", "--log-every", "1",
                     "--checkpoint-every", "1", cwd=tmp_path, env=injected(tmp_path, DIVERGING))
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "training diverged" in errors[0] and "--fork" in errors[0], result.stderr[-3000:]
    assert "--resume" not in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]


def test_a_rank_that_fails_leaves_its_error_to_rank_0_and_all_stop_without_another_traceback(tmp_path):
    """Rank 1 raises at step 2 (its traceback: a bug's); rank 0, which sees only its connection to rank 1 close,
    says and records rank 1's error (left in torchrun's store) instead of gloo's socket error, and ends without a
    traceback of its own, and torchrun without its report (dcgan.distributed.torchrun_quietly)."""
    result = run_cli("train", "--nproc", "2", "--steps", "50", "--batch-size", "8", "--g-width", "8", "--d-width",
                     "8", "--run-dir", "r", "--no-progress", "--no-tensorboard", "--checkpoint-every", "1",
                     cwd=tmp_path, env=injected(tmp_path, FAILING_RANK))
    assert result.returncode == 1, result.stderr[-3000:]
    said = "training failed at step 2: training process 1 of 2 failed: injected failure; a resume continues from step"
    assert f"error: {said}" in result.stderr, result.stderr[-3000:]
    assert result.stderr.count("Traceback") == 1, result.stderr[-3000:]  # rank 1's: not torchrun's, nor rank 0's
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["status"] == "failed" and said.split(": ", 1)[1] in status["message"], status


# Started in every process of the test's `dcgan train --nproc 2`: rank 1 cannot find the data.
NO_DATA_ON_RANK_1 = """
import os
if os.environ.get("RANK") == "1":
    import dcgan.training
    from dcgan.errors import DataError

    def missing(*args, **kwargs):
        raise DataError("fashion-mnist is not on this machine")

    dcgan.training.load_dataset = missing
"""


def test_a_rank_that_fails_before_training_leaves_two_error_lines(tmp_path):
    """Rank 1 lacks the data (another machine's disk): it says so; rank 0, whose setup waits for it, says rank
    1's error by its number (on the first machine's console too), in one line instead of gloo's traceback."""
    result = run_cli("train", "--nproc", "2", "--steps", "5", "--batch-size", "8", "--run-dir", "r", "--no-progress",
                     cwd=tmp_path, env=injected(tmp_path, NO_DATA_ON_RANK_1))
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert sorted(errors) == ["dcgan train: error: fashion-mnist is not on this machine",
                              "dcgan train: error: training process 1 of 2 failed: fashion-mnist is not on this "
                              "machine"], result.stderr[-3000:]


def test_a_refusal_on_rank_0_is_said_once(two_process_run, tmp_path):
    """Rank 0 refuses a folder that holds a run; rank 1, whose setup waits for it, does not repeat the refusal."""
    result = run_cli("train", "--nproc", "2", "--steps", "5", "--run-dir", str(two_process_run / "run"),
                     "--no-progress", cwd=tmp_path, env=ENV)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "already holds a run; resume it with --resume" in errors[0], result.stderr[-3000:]


def test_ctrl_c_in_a_terminal_stops_every_process_after_its_step(tmp_path):
    """A terminal's Ctrl-C reaches its whole foreground process group: the launcher passes it on to the training
    processes (torchrun, in its own session, would take it for a failure and print a traceback), they write the
    checkpoint, and the command exits 130 as an interrupted command does, with one line about the stop."""
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--nproc", "2", "--steps", "100000",
                             "--batch-size", "32", "--g-width", "8", "--d-width", "8", "--run-dir", "r",
                             "--no-progress", "--no-tensorboard", "--log-every", "5"], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    until(lambda: (tmp_path / "r" / "metrics.jsonl").exists(), "a logged step")
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal sends it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "failed" not in err, err[-3000:]
    assert err.count("stopping after this step and writing a checkpoint") == 1, err[-3000:]
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["status"] == "stopped"
    assert (tmp_path / "r" / "checkpoints" / "last").read_text().strip() == f"step-{status['step']:07d}.pt"


def _torchrun_pid(cli_pid: int) -> int:
    """The torchrun agent started by `dcgan train --nproc`."""
    for _ in range(100):
        found = subprocess.run(["pgrep", "-P", str(cli_pid)], capture_output=True, text=True).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.1)
    raise AssertionError("torchrun did not start")


def test_more_processes_than_the_machine_has_are_refused_unless_forced(tmp_path):
    from dcgan.budget import machine_processes

    too_many = machine_processes() + 1
    result = run_cli("train", "--nproc", str(too_many), "--steps", "1", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"--nproc {too_many} is more training processes than the {too_many - 1}" in result.stderr
    assert "--force-nproc" in result.stderr and not (tmp_path / "runs").exists()


def test_sync_batchnorm_on_cpu_is_a_clear_error(tmp_path):
    result = run_cli("train", "--sync-batchnorm", "--steps", "1", cwd=tmp_path)
    assert result.returncode == 2 and "--sync-batchnorm needs CUDA" in result.stderr
