"""A training process for tests/test_distributed.py, started by torchrun: trains with the real Trainer in a
gloo process group and leaves, per rank, its G and D weights, what its subscribers saw and what it trained on.

    distributed_worker.py OUT STEPS BATCH [OPTIONS_JSON]

OPTIONS_JSON: TrainConfig options over the defaults below ("seed": null draws one at random, as a run without
--seed does), "images": N to train on the first N images only (an epoch of a few steps), "timeout_s": the
collectives' timeout, "eval_sleep_s": seconds rank 0's evaluations take longer (a slow device's).
"""

import json
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from dcgan import Trainer, TrainConfig, load_dataset
from dcgan.data import ImageData
from dcgan.distributed import init_from_env

out, steps, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
options = {"g_width": 16, "d_width": 16, "seed": 1, "log_every": 1, "checkpoint_every": 3, "sample_every": 2,
           "tensorboard": True, **json.loads(sys.argv[4] if len(sys.argv) > 4 else "{}")}
images = options.pop("images", None)
eval_sleep_s = options.pop("eval_sleep_s", 0)
world = init_from_env("cpu", **({"timeout_s": options.pop("timeout_s")} if "timeout_s" in options else {}))
events = []
data = load_dataset("fashion-mnist", "/nonexistent", 28, 1, download=False)
if images is not None:
    data = ImageData(data.images[:images], data.labels[:images], data.class_names, data.source)


class Recording(Trainer):
    """The Trainer, noting each step's global sample order (a slice of the epoch's) and this rank's first noise."""

    chunks: list[list[int]] = []

    def batch(self, chunk):
        self.chunks.append(chunk.tolist())
        return super().batch(chunk)


config = TrainConfig(steps=steps, batch_size=batch, **options)
trainer = Recording(config, run_dir=out / "run", data=data, subscribers=[lambda e: events.append(type(e).__name__)])
trainer.setup()
if eval_sleep_s and trainer.evaluator is not None:
    evaluator = trainer.evaluator

    def slow_evaluation(*args):
        time.sleep(eval_sleep_s)
        return evaluator(*args)

    trainer.evaluator = slow_evaluation
    slow_evaluation.logged, slow_evaluation.extractor = evaluator.logged, evaluator.extractor
first_noise = trainer.gan_step._noise(batch)[0]
trainer.gan_step.noise_gen.manual_seed(trainer.config.seed)  # the run draws the same noise as without this look
trainer.run()
torch.save(trainer.G.state_dict(), out / f"G-rank{world.rank}.pt")
torch.save(trainer.D.state_dict(), out / f"D-rank{world.rank}.pt")
(out / f"events-rank{world.rank}.json").write_text(json.dumps(events))
(out / f"rank{world.rank}.json").write_text(json.dumps({
    "seed": trainer.config.seed, "chunks": trainer.chunks, "status": trainer.status,
    "first_noise": first_noise.tolist()}))
dist.barrier()
dist.destroy_process_group()
