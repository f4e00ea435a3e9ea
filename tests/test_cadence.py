"""Snapshot cadence: grids early and then every N steps, grids and checkpoints every N epochs."""

import io

import numpy as np
import torch
from PIL import Image

from dcgan import Trainer, TrainConfig
from dcgan.cadence import early_sample_steps, every_n, sample_due
from dcgan.data import ImageData
from dcgan.events import CheckpointSaved, EpochEnd, SampleGrid
from dcgan.rundir import read_metrics
from dcgan.images import CAPTION, GIF_PIXEL_BUDGET, LAST_FRAME_MS, Images, write_gif


def small(**kw):
    base = dict(seed=6, batch_size=32, g_width=16, d_width=16, log_every=5, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def grid_steps(events):
    return [e.step for e in events if isinstance(e, SampleGrid)]


def test_grids_come_early_then_every_n_steps():
    assert [s for s in range(1001) if sample_due(s, 200)] == [0, 10, 25, 50, 100, 200, 400, 600, 800, 1000]
    assert [s for s in range(3001) if sample_due(s, 1000)] == [0, 10, 25, 50, 100, 250, 500, 1000, 2000, 3000]


def test_a_short_step_cadence_has_no_early_grids_and_zero_turns_it_off():
    assert early_sample_steps(10) == frozenset()
    assert [s for s in range(31) if sample_due(s, 10)] == [0, 10, 20, 30]
    assert not any(sample_due(s, 0) for s in range(300))


def test_the_schedule_is_a_function_of_the_step_alone():
    """The same answers in any order and after any history: what lets a resumed run keep the schedule."""
    forward = [sample_due(s, 500) for s in range(2000)]
    backward = [sample_due(s, 500) for s in reversed(range(2000))][::-1]
    assert forward == backward


def test_every_n_epochs():
    assert [e for e in range(1, 9) if every_n(e, 2)] == [2, 4, 6, 8]
    assert not any(every_n(e, 0) for e in range(1, 9))


def test_a_real_run_folder_shows_the_early_grids(fashion, tmp_path):
    """Real Fashion-MNIST, the default --sample-every 200: grids at 0, 10, 25 and 50 (seconds into a CPU run),
    in samples/, progress.gif and TensorBoard, and they change as G learns."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "r"
    Trainer(small(steps=60, tensorboard=True), run_dir=run, data=fashion).run()
    names = sorted(p.name for p in (run / "samples").iterdir())
    assert names == [f"step-{s:07d}.png" for s in (0, 10, 25, 50, 60)]
    assert Image.open(run / "progress.gif").n_frames == 5
    acc = EventAccumulator(str(run), size_guidance={"images": 0})
    acc.Reload()
    assert [i.step for i in acc.Images("samples/fixed noise")] == [0, 10, 25, 50, 60]
    first, fiftieth = (np.asarray(Image.open(run / "samples" / n), dtype=float) for n in (names[0], names[3]))
    assert np.abs(first - fiftieth).mean() > 4  # grey levels out of 255 (padding included): they moved


def test_grids_and_checkpoints_every_two_epochs(fashion, tmp_path):
    """Seed 004's cadence: --sample-every-epochs 2 --checkpoint-every-epochs 2, with the step rules off."""
    subset = ImageData(fashion.images[:160], fashion.labels[:160])  # 5 steps per epoch at batch 32
    events = []
    Trainer(small(epochs=5, sample_every=0, sample_every_epochs=2, checkpoint_every=0, checkpoint_every_epochs=2,
                  keep_checkpoints=10), run_dir=tmp_path / "r", data=subset, subscribers=[events.append]).run()
    assert grid_steps(events) == [0, 10, 20, 25]  # step 0, epochs 2 and 4, the end
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [10, 20, 25]


def test_a_resumed_run_keeps_the_early_schedule(fashion, tmp_path):
    run = tmp_path / "r"
    first = []
    Trainer(small(steps=12, sample_every=100), run_dir=run, data=fashion, subscribers=[first.append]).run()
    resumed = []
    Trainer.resume(run, steps=30, data=fashion, subscribers=[resumed.append]).run()
    assert grid_steps(first) == [0, 10, 12]
    assert grid_steps(resumed) == [25, 30]


def test_resuming_from_an_epoch_end_checkpoint_ends_that_epoch_once(fashion, tmp_path):
    subset = ImageData(fashion.images[:160], fashion.labels[:160])
    run = tmp_path / "r"
    Trainer(small(epochs=1, checkpoint_every=0, checkpoint_every_epochs=1), run_dir=run, data=subset).run()
    events = []
    Trainer.resume(run, epochs=2, data=subset, subscribers=[events.append]).run()
    assert [(e.epoch, e.step) for e in events if isinstance(e, EpochEnd)] == [(2, 10)]
    rows = [r for r in read_metrics(run / "metrics.jsonl") if r.get("event") == "epoch"]
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, 5), (2, 10)]


def test_the_progress_gif_of_a_long_run_stays_small(tmp_path):
    """100 grids of Fashion-MNIST's grid size (242x242) in noise, GIF's worst case: an evenly spread subset that
    keeps the first and the last grid, each with its step beneath it (2.7 MB; all 100 frames: 8.1 MB; real grids
    cost a third less); the last is held before the loop starts again."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(100):
        path = tmp_path / f"step-{i * 100:07d}.png"
        Image.fromarray(rng.integers(0, 256, (242, 242), dtype=np.uint8)).save(path)
        frames.append(path)
    write_gif(frames, tmp_path / "progress.gif")
    gif = Image.open(tmp_path / "progress.gif")
    assert gif.size == (242, 242 + CAPTION)
    assert gif.n_frames == GIF_PIXEL_BUDGET // (242 * (242 + CAPTION)) == 32
    assert (tmp_path / "progress.gif").stat().st_size < 3_000_000
    first = np.asarray(gif.convert("L"))
    assert gif.info["duration"] == 200
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("L"))
    assert gif.info["duration"] == LAST_FRAME_MS
    assert np.array_equal(first[:242], np.asarray(Image.open(frames[0])))
    assert np.array_equal(last[:242], np.asarray(Image.open(frames[-1])))
    assert (first[242:] < 128).any() and not np.array_equal(first[242:], last[242:])  # "step 0", "step 9,900"


def test_a_damaged_grid_is_left_out_of_the_progress_gif(tmp_path):
    """A sample grid cut short or replaced on disk must not stop training at the next grid (it did: 'cannot
    identify image file'): the GIF is drawn from the grids that open."""
    frames = []
    for i in range(4):
        path = tmp_path / f"step-{i * 100:07d}.png"
        Image.fromarray(np.full((122, 122), 60 * i, dtype=np.uint8)).save(path)
        frames.append(path)
    frames[1].write_bytes(b"x")  # not an image
    frames[2].write_bytes(frames[2].read_bytes()[:60])  # a copy cut short: its header opens, its pixels do not
    write_gif(frames, tmp_path / "progress.gif")
    gif = Image.open(tmp_path / "progress.gif")
    assert gif.n_frames == 2
    frames[3].write_bytes(b"")  # the newest too: the last readable one gives the size
    write_gif(frames, tmp_path / "progress.gif")
    assert Image.open(tmp_path / "progress.gif").n_frames == 1


def test_small_grids_are_enlarged_in_the_progress_gif_and_in_jupyter(tmp_path):
    """16 samples of 28x28 make a 122-pixel grid: the GIF shows it twice as large, Jupyter three times, with
    pixels kept sharp (nearest neighbour); the grid file itself keeps its size."""
    grid = np.random.default_rng(1).integers(0, 256, (122, 122), dtype=np.uint8)
    Image.fromarray(grid).save(tmp_path / "step-0000500.png")
    write_gif([tmp_path / "step-0000500.png"], tmp_path / "progress.gif")
    frame = np.asarray(Image.open(tmp_path / "progress.gif").convert("L"))
    assert frame.shape == (244 + CAPTION, 244) and np.array_equal(frame[:244:2, ::2], grid)
    images = Images(torch.from_numpy(grid[None, None].copy()))
    shown = np.asarray(Image.open(io.BytesIO(images._repr_png_())))
    assert shown.shape == (366, 366) and np.array_equal(shown[::3, ::3], grid)
    assert Image.open(io.BytesIO(images.png_bytes())).size == (122, 122)
