"""A training process for tests/test_distributed.py, started by torchrun: trains with the real Trainer in a
gloo process group and leaves, per rank, its G weights and what its subscribers saw."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from dcgan import Trainer, TrainConfig, load_dataset
from dcgan.distributed import init_from_env

out, steps, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
world = init_from_env("cpu")
events = []
data = load_dataset("fashion-mnist", "/nonexistent", 28, 1, download=False)
config = TrainConfig(steps=steps, batch_size=batch, g_width=16, d_width=16, seed=1, log_every=1,
                     checkpoint_every=3, sample_every=2, tensorboard=True)
trainer = Trainer(config, run_dir=out / "run", data=data,
                  subscribers=[lambda e: events.append(type(e).__name__)])
trainer.run()
torch.save(trainer.G.state_dict(), out / f"G-rank{world.rank}.pt")
(out / f"events-rank{world.rank}.json").write_text(json.dumps(events))
dist.barrier()
dist.destroy_process_group()
