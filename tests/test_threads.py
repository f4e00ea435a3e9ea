"""The thread governor: a CPU run drops a thread when other programs starve it, never otherwise."""

import json

import pytest

from dcgan import threads
from dcgan.threads import ThreadGovernor, governor_for


class Clock:
    """Wall and CPU clocks a test moves: each step takes `wall` seconds and gets `cores` cores of CPU time."""

    def __init__(self):
        self.wall_now = self.cpu_now = 0.0

    def step(self, governor: ThreadGovernor, wall: float, cores: float):
        governor.start_step()
        self.wall_now += wall
        self.cpu_now += wall * cores
        return governor.end_step()

    def idle(self, seconds: float):  # a pause, an evaluation, a checkpoint write: outside the steps
        self.wall_now += seconds


def governor(threads_: int = 2) -> tuple[ThreadGovernor, Clock]:
    clock = Clock()
    return ThreadGovernor(threads_, wall=lambda: clock.wall_now, cpu=lambda: clock.cpu_now), clock


def run(g: ThreadGovernor, clock: Clock, seconds: float, cores: float, step_s: float = 0.01) -> list:
    return [d for d in (clock.step(g, step_s, cores) for _ in range(round(seconds / step_s))) if d]


def test_a_run_that_gets_its_cores_keeps_its_threads():
    g, clock = governor(2)
    assert run(g, clock, 60, cores=1.9) == [] and g.threads == 2


def test_two_starved_windows_in_a_row_drop_one_thread_and_say_how_much_cpu_the_run_got():
    g, clock = governor(2)
    dropped = run(g, clock, 2 * threads.WINDOW_S + 0.05, cores=1.1)
    assert len(dropped) == 1 and dropped[0][0] == 1 and dropped[0][1] == pytest.approx(1.1)
    assert g.threads == 1
    assert run(g, clock, 30, cores=0.5) == []  # one thread is the floor


def test_one_starved_window_between_good_ones_is_not_enough():
    g, clock = governor(2)
    for _ in range(5):
        assert run(g, clock, threads.WINDOW_S, cores=1.0) == []
        assert run(g, clock, threads.WINDOW_S, cores=2.0) == []
    assert g.threads == 2


def test_time_outside_the_steps_is_not_counted():
    g, clock = governor(2)
    for _ in range(50):
        clock.step(g, 0.01, cores=2.0)
        clock.idle(1.0)  # paused: wall time passes, no CPU time is used
    assert g.threads == 2


def test_many_threads_lose_one_at_a_time():
    g, clock = governor(8)
    # Six cores free: 8 threads, then 7 are starved; 6 threads on 6 cores are not.
    assert [d[0] for d in run(g, clock, 8 * threads.WINDOW_S + 0.05, cores=6.0)] == [7, 6]
    assert g.threads == 6


def test_only_a_single_process_cpu_run_with_no_chosen_thread_count_is_governed(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert governor_for("cpu", 2, 1) is not None
    assert governor_for("cuda", 2, 1) is None and governor_for("mps", 2, 1) is None
    assert governor_for("cpu", 1, 1) is None and governor_for("cpu", 2, 2) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert governor_for("cpu", 2, 1) is None


def test_a_starved_training_run_drops_a_thread_and_says_so(fashion, tmp_path, monkeypatch):
    """The real trainer with the governor's clocks replaced: every step takes 1 s and gets half a core, as a run
    beside a busy program would. It warns once, in words, and trains on with one thread fewer."""
    import torch

    from dcgan import Trainer, TrainConfig
    from dcgan import training
    from dcgan.events import Log

    clock = {"wall": 0.0, "cpu": 0.0}

    def wall():
        clock["wall"] += 1.0  # read at each step's start and end: 1 s per step
        return clock["wall"]

    def cpu():
        clock["cpu"] += 0.5
        return clock["cpu"]

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(training, "governor_for", lambda device, n, processes: ThreadGovernor(2, wall, cpu))
    before = torch.get_num_threads()
    try:
        trainer = Trainer(TrainConfig(seed=0, steps=6, batch_size=16, g_width=8, d_width=8, tensorboard=False),
                          run_dir=tmp_path / "run", data=fashion)
        logs = []
        trainer.subscribe(lambda e: logs.append(e.message) if isinstance(e, Log) else None)
        assert trainer.run() == "finished"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    shared = [m for m in logs if "the CPU is shared" in m]
    assert len(shared) == 1 and "0.5 cores for their 2 threads" in shared[0] and "continuing with 1" in shared[0]
    assert "faster on a busy CPU" in shared[0] and len(f"warning: {shared[0]}") < 150  # says it is for the good
    assert "the CPU is shared" in (tmp_path / "run" / "log.txt").read_text()
    # run.json records the counts the steps ran with, not only the one the session started with.
    determinism = json.loads((tmp_path / "run" / "run.json").read_text())["sessions"][-1]["determinism"]
    assert determinism["threads"] == before and determinism["threads_adaptive"] is True
    changes = determinism["threads_changes"]
    assert len(changes) == 1 and changes[0]["threads"] == 1 and 2 <= changes[0]["from_step"] <= 6, changes


def test_run_json_says_when_the_thread_count_was_fixed_by_the_user(fashion, tmp_path, fixed_threads):
    import torch

    from dcgan import Trainer, TrainConfig

    Trainer(TrainConfig(seed=0, steps=2, batch_size=16, g_width=8, d_width=8, tensorboard=False),
            run_dir=tmp_path / "run", data=fashion).run()
    determinism = json.loads((tmp_path / "run" / "run.json").read_text())["sessions"][-1]["determinism"]
    assert determinism["threads"] == torch.get_num_threads() and determinism["threads_adaptive"] is False
    assert "threads_changes" not in determinism
