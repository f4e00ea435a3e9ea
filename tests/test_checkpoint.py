import os
import pickle
import subprocess
import sys
import warnings

import pytest
import torch

from dcgan.checkpoint import (atomic_folder, atomic_save, atomic_write_text, export_generator, load_checkpoint,
                              load_generator_file, resolve_checkpoint, save_checkpoint)
from dcgan.errors import CheckpointError
from dcgan.rundir import RunLock


def _state(step):
    return {"step": step, "config": {"x": 1}, "G": {"w": torch.full((3,), float(step))}}


def test_last_points_at_the_newest_complete_checkpoint(tmp_path):
    save_checkpoint(tmp_path, _state(10))
    save_checkpoint(tmp_path, _state(20))
    path = resolve_checkpoint(tmp_path)
    assert path.name == "step-0000020.pt" and load_checkpoint(path)["G"]["w"][0] == 20


def test_an_old_checkpoint_that_cannot_be_removed_does_not_fail_the_new_one(tmp_path):
    """Pruning to --keep-checkpoints is housekeeping: an old checkpoint the user protected (chattr +i, read-only
    on a share) or one open elsewhere on Windows stays, and the checkpoint just written is the run's last (a save
    that raised after writing it stopped the run, naming an older one to resume from). A folder in its place
    cannot be unlinked either, on any system and without root."""
    (tmp_path / "step-0000001.pt").mkdir()
    (tmp_path / "step-0000001.pt" / "kept").write_text("")
    save_checkpoint(tmp_path, _state(2), keep=1)
    path = save_checkpoint(tmp_path, _state(3), keep=1)
    assert resolve_checkpoint(tmp_path) == path and load_checkpoint(path)["step"] == 3
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-0000001.pt", "step-0000003.pt"]


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, _state(10))
    real_replace = os.replace

    def crash(src, dst):  # the process dies after writing the temp file, before the rename
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, _state(20))
    monkeypatch.setattr(os, "replace", real_replace)
    assert resolve_checkpoint(tmp_path).name == "step-0000010.pt"
    assert load_checkpoint(resolve_checkpoint(tmp_path))["step"] == 10
    assert not (tmp_path / "step-0000020.pt").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was cleaned up


def test_a_folder_write_cut_short_by_a_kill_is_removed_by_the_next_but_a_live_one_is_not(tmp_path):
    """`generate --out-dir` and `export` fill a temp sibling and rename it: SIGKILL leaves the temp folder (with
    the files written so far) where the user put the output. The next write of that output removes it; one that
    a live process is still filling stays."""
    fill_then = """
import os, signal, sys, time
from dcgan.checkpoint import atomic_folder
with atomic_folder(sys.argv[1]) as tmp:
    (tmp / "00000.png").write_bytes(b"half")
    print(tmp.name, flush=True)
    os.kill(os.getpid(), signal.SIGKILL) if sys.argv[2] == "die" else time.sleep(60)
"""
    killed = subprocess.run([sys.executable, "-c", fill_then, str(tmp_path / "out"), "die"], capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -9 and (tmp_path / killed.stdout.strip()).is_dir()
    live = subprocess.Popen([sys.executable, "-c", fill_then, str(tmp_path / "other"), "wait"],
                            stdout=subprocess.PIPE, text=True)
    try:
        live_tmp = tmp_path / live.stdout.readline().strip()
        (tmp_path / ".out.notours.tmp").mkdir()  # not a name atomic_folder gives
        with atomic_folder(tmp_path / "out") as tmp:
            (tmp / "00000.png").write_bytes(b"whole")
        with atomic_folder(tmp_path / "other") as tmp:  # the live process's output: its temp folder is held
            (tmp / "a.png").write_bytes(b"x")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".out.notours.tmp", live_tmp.name, "out",
                                                                      "other"])
        assert (tmp_path / "out" / "00000.png").read_bytes() == b"whole"
    finally:
        live.kill()
        live.wait()


def test_atomic_files_get_the_permissions_of_plain_ones(tmp_path):
    """The umask decides, as for every file the run writes with open(): samples, config.json and checkpoints are
    not private while metrics.jsonl and the TensorBoard events beside them are readable."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "config.json", "{}")
        save_checkpoint(tmp_path, _state(10))
        export_generator(tmp_path / "generator.safetensors", torch.nn.Linear(2, 2), {}, 10)
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["config.json", "step-0000010.pt", "last", "generator.safetensors", "plain.txt"],
                                  0o644)


def test_a_killed_writer_never_leaves_a_torn_checkpoint(tmp_path):
    """SIGKILL a process while it rewrites a large checkpoint in a loop: the file is always loadable."""
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import torch, sys\n"
        "from dcgan.checkpoint import save_checkpoint\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        "    save_checkpoint(sys.argv[1], {'step': 1, 'config': {}, 'G': {'w': torch.full((4_000_000,), float(i))}})\n"
        "    print(i, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "1"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(resolve_checkpoint(tmp_path))
    assert state["G"]["w"].shape == (4_000_000,) and torch.all(state["G"]["w"] == state["G"]["w"][0])


def _refusal(path):
    """load_checkpoint's one-line message for a file it refuses."""
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message and "weights_only" not in message and "PyTorch" not in message, message
    return message


def test_truncated_checkpoint_is_a_clear_error_naming_the_one_to_use(tmp_path):
    path = save_checkpoint(tmp_path, _state(5))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert _refusal(path) == (f"{path} is not a readable dcgan checkpoint: it is truncated (a zip archive whose end "
                              f"is missing: a copy or write of it did not finish); use the run's "
                              f"generator.safetensors, or copy the file again")
    save_checkpoint(tmp_path, _state(3))  # an earlier one beside it (last now names it: put it back)
    (tmp_path / "last").write_text(path.name + "\n")
    path.write_bytes(b"")
    assert _refusal(path) == (f"{path} is not a readable dcgan checkpoint: it is empty (0 bytes): a copy or write "
                              f"of it did not finish; use another checkpoint of the run, e.g. --checkpoint "
                              f"step-0000003.pt, or its generator.safetensors, or copy the file again")
    (tmp_path / "last").write_text("")  # the pointer itself cut short
    with pytest.raises(CheckpointError, match=r"last is empty \(a copy of it did not finish\); give the newest, "
                                              r"--checkpoint step-0000005.pt"):
        resolve_checkpoint(tmp_path)


def test_a_last_pointer_never_shows_another_files_text(tmp_path):
    """The pointer's text is quoted when it names a missing checkpoint: a pointer that is a link (planted in a
    shared run folder), or holds anything but a checkpoint's name, must not quote what it reads."""
    save_checkpoint(tmp_path, _state(5))
    secret = tmp_path.parent / "secret.txt"
    secret.write_text("the-secret-line\n")
    (tmp_path / "last").unlink()
    (tmp_path / "last").symlink_to(secret)
    with pytest.raises(CheckpointError, match="last is a link") as refused:
        resolve_checkpoint(tmp_path)
    (tmp_path / "last").unlink()
    (tmp_path / "last").write_text("the-secret-line\n")  # copied in as text
    with pytest.raises(CheckpointError, match="last does not name a checkpoint; give the newest") as copied:
        resolve_checkpoint(tmp_path)
    assert "secret" not in str(refused.value) + str(copied.value)
    (tmp_path / "last").write_text("step-0000009.pt\n")
    with pytest.raises(CheckpointError, match="names step-0000009.pt, which is missing"):
        resolve_checkpoint(tmp_path)


def test_a_checkpoint_whose_bytes_were_changed_is_refused_not_loaded(tmp_path):
    """torch.load does not check the CRC-32 torch.save stores with each tensor: changed bytes would load as
    weights (and train on, or diverge). They are refused, naming a checkpoint to use instead."""
    save_checkpoint(tmp_path, _state(1))
    path = save_checkpoint(tmp_path, {**_state(2), "G": {"w": torch.zeros(100_000)}})  # mostly tensor bytes
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the weights, as a disk or a copy may change it
    path.write_bytes(bytes(data))
    assert _refusal(path) == (f"{path} is not a readable dcgan checkpoint: its bytes were changed after it was "
                              f"written (a stored checksum does not match: a disk or a copy damaged it); use another "
                              f"checkpoint of the run, e.g. --checkpoint step-0000001.pt, or its "
                              f"generator.safetensors, or copy the file again")


GIVE = "give a run folder (runs/<name>), a step-*.pt file from its checkpoints/ or its generator.safetensors"


def test_a_file_that_is_no_checkpoint_is_named_for_what_it_is(tmp_path):
    """Not torch's advice (cut mid-sentence, and suggesting weights_only=False): what the file is, what to give."""
    toml = tmp_path / "my.toml"
    toml.write_text("[train]\nsteps = 10\n")
    assert _refusal(toml) == f"{toml} is not a readable dcgan checkpoint: it is a text file (.toml); {GIVE}"
    onnx = tmp_path / "generator.onnx"
    onnx.write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x052.6.0")  # an ONNX protobuf's first fields
    assert _refusal(onnx) == (f"{onnx} is not a readable dcgan checkpoint: it is an ONNX export (onnxruntime runs "
                              f"it); {GIVE}")
    noise = tmp_path / "noise.pt"
    noise.write_bytes(bytes(range(256)) * 4)
    assert "it is not a file torch.save writes (neither a zip archive nor a pickle)" in _refusal(noise)
    renamed = tmp_path / "generator.pt"
    export_generator(renamed, torch.nn.Linear(2, 2), {}, 10)
    assert "it is a safetensors file; if it is a generator export, give it the name generator.safetensors" in \
        _refusal(renamed)


def test_a_torchscript_file_is_refused_without_torchs_warning(tmp_path):
    path = tmp_path / "generator.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, its files are still about
        torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)).save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.load warns of a TorchScript archive when it is handed one
        message = _refusal(path)
    assert message == (f"{path} is not a readable dcgan checkpoint: it is a TorchScript export (`dcgan export "
                       f"--format torchscript`; torch.jit.load runs it); {GIVE}")


def test_loading_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "dcgan-checkpoint", "payload": Exploit()}))
    assert "a pickle (torch's old format or Python's) that the weights-only loader cannot read" in _refusal(path)
    evil_zip = tmp_path / "evil2.pt"
    torch.save({"format": "dcgan-checkpoint", "payload": Exploit()}, evil_zip)
    assert _refusal(evil_zip) == (f"{evil_zip} is not a readable dcgan checkpoint: it holds Python objects besides "
                                  f"weights and plain values ({os.system.__module__}.system), and dcgan never loads "
                                  f"code from a file; {GIVE}")
    assert not marker.exists()


def test_foreign_but_valid_torch_file_is_refused(tmp_path):
    atomic_save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a dcgan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_a_checkpoint_whose_step_or_config_is_not_one_is_refused_when_loaded(tmp_path):
    """The marker is there but the fields every reader relies on are not what dcgan writes (an edited file): one
    error at the load, not a 500 from the dashboard's generator or a step printed as 'forty'."""
    for name, change in (("step", {"step": "forty"}), ("config", {"config": ["x"]}), ("nostep", {"step": None})):
        atomic_save({**_state(5), "format": "dcgan-checkpoint", "format_version": 1, **change}, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError, match="is damaged: its step or config is not one dcgan writes; use"):
            load_checkpoint(tmp_path / f"{name}.pt")


def test_newer_format_asks_for_an_upgrade(tmp_path):
    atomic_save({"format": "dcgan-checkpoint", "format_version": 99}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="upgrade"):
        load_checkpoint(tmp_path / "new.pt")


def test_a_folder_without_checkpoints_is_explained(tmp_path):
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nope")
    (tmp_path / "checkpoints").mkdir()  # a run killed before its first checkpoint: nothing to load, say so
    with pytest.raises(CheckpointError, match="has no checkpoint: its training ended before its first checkpoint .* "
                                              "nothing to load; `dcgan train --resume .*` trains it again from step 0"):
        resolve_checkpoint(tmp_path)
    lock = RunLock(tmp_path).acquire()  # still training (this process holds its lock): wait, do not delete it
    try:
        with pytest.raises(CheckpointError, match="is still training and has no checkpoint yet .*; try again "
                                                  "after its first") as refused:
            resolve_checkpoint(tmp_path)
        assert "delete" not in str(refused.value)
    finally:
        lock.release()


def test_a_broken_generator_export_is_a_clear_error(tmp_path):
    bad = tmp_path / "generator.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="is not a readable safetensors file .*: cut short or not one; "
                                              "export the generator again"):
        load_generator_file(bad)
