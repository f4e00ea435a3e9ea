"""The run folder's safety (issue 18): no file is read or written through a link that leads outside it, and one
trainer writes a run at a time (a lock the kernel releases when its process dies, kill -9 included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dcgan import TrainConfig, Trainer
from dcgan.errors import RunBusyError, RunFolderError
from dcgan.rundir import LOCK_FILE, RunLock, check_links, holder, inside, links_out

LOCK_HOLDER = ("import sys, time\n"
               "from dcgan.rundir import RunLock\n"
               "lock = RunLock(sys.argv[1]).acquire()\n"
               "print('locked', flush=True)\n"
               "time.sleep(600)\n")


def small(**kw):
    return TrainConfig(**{**dict(seed=3, batch_size=32, g_width=8, d_width=8, latent_dim=16, log_every=1,
                                 tensorboard=False, sample_count=16), **kw})


def test_a_link_out_of_the_run_folder_is_refused_and_one_inside_is_followed(tmp_path):
    run, secret = tmp_path / "run", tmp_path / "secret.txt"
    (run / "samples").mkdir(parents=True)
    secret.write_text("secret")
    (run / "log.txt").symlink_to(secret)
    (run / "samples" / "step-0000001.png").symlink_to(run / "log.txt")  # inside, but on to the secret
    (run / "samples" / "step-0000002.png").write_bytes(b"png")
    (run / "samples" / "step-0000003.png").symlink_to("step-0000002.png")
    for parts in (("log.txt",), ("samples", "step-0000001.png"), ("..", "secret.txt")):
        with pytest.raises(RunFolderError, match="leads outside the run folder"):
            inside(run, *parts)
    assert inside(run, "samples", "step-0000003.png") == (run / "samples" / "step-0000002.png").resolve()
    (run / "dangling").symlink_to(tmp_path / "nothing")
    assert links_out(run) == ["dangling", "log.txt", "samples/step-0000001.png"]


def test_a_lock_refuses_a_second_writer_until_it_is_released(tmp_path):
    first = RunLock(tmp_path).acquire()
    assert holder(tmp_path).pid == os.getpid()
    with pytest.raises(RunBusyError, match=f"being trained by process {os.getpid()} on "):
        RunLock(tmp_path).acquire()
    first.release()
    assert holder(tmp_path) is None
    RunLock(tmp_path).acquire().release()


def test_a_lock_whose_process_was_killed_is_taken_over(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().strip() == "locked"
        assert holder(tmp_path).pid == process.pid
        with pytest.raises(RunBusyError, match=f"process {process.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; its lock ended with the process
    assert holder(tmp_path) is None
    RunLock(tmp_path).acquire().release()


def test_the_lock_file_itself_may_not_be_a_link(tmp_path):
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunFolderError):
        RunLock(tmp_path / "run").acquire()


def test_a_trainer_holds_its_run_while_it_trains_and_lets_go_at_the_end(fashion, tmp_path):
    seen = []
    trainer = Trainer(small(steps=3), run_dir=tmp_path / "r", data=fashion,
                      subscribers=[lambda e: seen.append(holder(tmp_path / "r"))])
    assert trainer.run() == "finished"
    assert {h.pid for h in seen if h is not None} == {os.getpid()} and seen[-1] is not None
    assert holder(tmp_path / "r") is None


def test_resume_refuses_while_another_trainer_writes_the_run(fashion, tmp_path):
    Trainer(small(steps=2), run_dir=tmp_path / "r", data=fashion).run()
    held = RunLock(tmp_path / "r").acquire()
    with pytest.raises(RunBusyError, match="one trainer writes a run at a time"):
        Trainer.resume(tmp_path / "r", steps=4, data=fashion)
    held.release()
    assert Trainer.resume(tmp_path / "r", steps=4, data=fashion).run() == "finished"


def test_resume_never_appends_through_a_planted_link(fashion, tmp_path):
    Trainer(small(steps=2), run_dir=tmp_path / "r", data=fashion).run()
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0\n")
    (tmp_path / "r" / "log.txt").unlink()
    (tmp_path / "r" / "log.txt").symlink_to(secret)
    with pytest.raises(RunFolderError, match=r"holds a link that leads outside its folder \(log.txt\)"):
        Trainer.resume(tmp_path / "r", steps=4, data=fashion)
    with pytest.raises(RunFolderError):
        check_links(tmp_path / "r")
    assert secret.read_text() == "root:x:0:0\n"
