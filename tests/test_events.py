"""Events: what the trainer tells its subscribers, readable when a subscriber simply prints them."""

import torch

from dcgan.events import RealGrid, SampleGrid, StepMetrics


def test_printed_grid_events_name_their_images_shape_not_every_pixel():
    """The README's `subscribers=[print]` shows every event: a grid is one short line, not a tensor dump."""
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    for event in (SampleGrid(step=200, epoch=0, images=images, nrow=8), RealGrid(step=0, images=images, nrow=8)):
        text = repr(event)
        assert "\n" not in text and len(text) < 200, text
        assert "images=<uint8 tensor 64x1x28x28>" in text and "nrow=8" in text and "step=" in text
        assert text.startswith(type(event).__name__ + "(")


def test_other_events_print_as_dataclasses():
    event = StepMetrics(step=10, epoch=0, metrics={"loss/D": 0.5}, time=1.0)
    assert repr(event) == "StepMetrics(time=1.0, step=10, epoch=0, metrics={'loss/D': 0.5}, manual=None)"
