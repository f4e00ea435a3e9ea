"""dcgan.step: what a CUDA-graph-captured step changes in the step's own code, checked where the suite runs (a CPU).

The capture itself needs a GPU: scripts/cuda_graph_step.py trains each objective and technique both ways there
(docs/performance.md, "GPU"). Here: the learning rates a captured step reads from device tensors, and checkpoints
that keep them as numbers."""

from __future__ import annotations

import io

import torch

from dcgan.config import TrainConfig
from dcgan.training import Trainer


def trainer(fashion) -> Trainer:
    config = TrainConfig(dataset="fashion-mnist", seed=0, steps=8, lr_schedule="linear", lr_g=5e-4, lr_d=2e-3,
                         g_width=8, d_width=8, batch_size=8)
    return Trainer(config, data=fashion, write_files=False).setup()


def steps(t: Trainer, count: int) -> list[tuple[float, ...]]:
    rows = []
    for _ in range(count):
        out = t.train_step(*t.next_batch())
        t.step += 1
        rows.append((out["loss/D"].item(), out["loss/G"].item(), *t.gan_step.learning_rates))
    return rows


def test_learning_rates_held_in_tensors_follow_the_schedule_in_place_and_train_the_same(fashion):
    """A captured step reads Adam's rates from device tensors (the graph holds their addresses): the schedule fills
    those same tensors, and the run is the eager one. Not bit for bit on a CPU, whose fused Adam computes with a
    number in double precision and with a tensor in single (measured: 6e-8 in a loss after two steps); CUDA's
    computes both in single, and there the captured run is the eager one exactly (scripts/cuda_graph_step.py)."""
    eager, held = trainer(fashion), trainer(fashion)
    rates = [torch.tensor(g["lr"], dtype=torch.float32) for opt in (held.opt_G, held.opt_D) for g in opt.param_groups]
    for group, rate in zip([g for opt in (held.opt_G, held.opt_D) for g in opt.param_groups], rates):
        group["lr"] = rate
    torch.testing.assert_close(torch.tensor(steps(held, 6)), torch.tensor(steps(eager, 6)), rtol=1e-5, atol=0)
    groups = [g for opt in (held.opt_G, held.opt_D) for g in opt.param_groups]
    assert all(g["lr"] is rate for g, rate in zip(groups, rates))  # filled, never replaced
    assert [r.item() for r in rates] == [torch.tensor(x).item() for x in held.gan_step.learning_rates]
    assert held.gan_step.learning_rates == (5e-4 * (1 - 5 / 8), 2e-3 * (1 - 5 / 8))  # linear, step 5 of 8
    for a, b in zip([*held.G.parameters(), *held.D.parameters()], [*eager.G.parameters(), *eager.D.parameters()]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # a tenth of one step's change at these rates


def test_a_checkpoint_keeps_the_rates_as_numbers_and_capture_off(fashion):
    """What a captured step changed in Adam (tensor rates, `capturable`) never reaches a checkpoint: it loads the
    same into an eager step on any device, and training goes on as it would have."""
    t = trainer(fashion)
    steps(t, 3)
    for opt in (t.opt_G, t.opt_D):
        for group in opt.param_groups:
            group["lr"], group["capturable"] = torch.tensor(group["lr"]), True
    state = t.gan_step.state_dict()
    groups = state["opt_G"]["param_groups"] + state["opt_D"]["param_groups"]
    assert all(type(g["lr"]) is float and g["capturable"] is False for g in groups)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    resumed = trainer(fashion)
    resumed.gan_step.load_state_dict(torch.load(buffer, weights_only=True))
    resumed.step, resumed.position = t.step, t.position
    for opt in (t.opt_G, t.opt_D):  # the original goes on eagerly as well
        for group in opt.param_groups:
            group["lr"], group["capturable"] = float(group["lr"]), False
    assert steps(resumed, 2) == steps(t, 2)
