"""The terminal as a subscriber: a tqdm progress bar with ETA and live losses, and the log lines."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from dcgan.events import (CheckpointSaved, EpochEnd, Event, HyperparameterChanged, Log, RunStarted, StatusChanged,
                          StepMetrics)
from dcgan.vocabulary import D_FAKE, D_REAL, IMAGES_PER_S, LOSS_D, LOSS_G, label

SHOWN = ((LOSS_D, LOSS_G), (D_REAL, D_FAKE))  # the losses, then D's probabilities, on every line


class ConsoleProgress:
    """A progress bar on a terminal; elsewhere (output piped to a file or a log) a line per logged step, since a
    bar's redraws would land in the file as lines of their own, with other lines glued to them."""

    def __init__(self, stream: TextIO = sys.stderr, bar: bool = True):
        self.stream = stream
        self.show_bar = bar and getattr(stream, "isatty", lambda: False)()
        self.bar: tqdm | None = None
        self.steps_per_epoch = 1
        self.total_steps = 0

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.steps_per_epoch, self.total_steps = event.steps_per_epoch, event.total_steps
            self.write(f"run: {event.run_dir or '(no files: dry run)'}")
            if self.show_bar:
                self.bar = tqdm(total=event.total_steps, initial=event.start_step, file=self.stream,
                                unit="step", dynamic_ncols=True, smoothing=0.1)
        elif isinstance(event, StepMetrics):
            m = event.metrics
            if self.bar is not None:
                self.bar.update(event.step - self.bar.n)
                self.bar.set_postfix_str(f"ep {event.epoch + 1} {shown(m, 3, 2)} {m.get(IMAGES_PER_S, 0):.0f} img/s",
                                         refresh=False)
            else:
                speed = f" {m[IMAGES_PER_S]:.0f} img/s" if IMAGES_PER_S in m else ""
                self.write(f"step {event.step}/{self.total_steps} ep {event.epoch + 1} {shown(m, 4, 3)}{speed}")
        elif isinstance(event, EpochEnd):
            self.write(f"epoch {event.epoch} done in {event.seconds:.1f} s (step {event.step})")
        elif isinstance(event, Log):  # the device among them: the trainer's first log line
            self.write(event.message if event.level == "info" else f"{event.level}: {event.message}")
        elif isinstance(event, HyperparameterChanged):
            self.write(f"from step {event.step + 1}: {event.field} {event.old} -> {event.new}")
        elif isinstance(event, CheckpointSaved):
            pass
        elif isinstance(event, StatusChanged) and event.status in ("stopped", "finished", "failed"):
            if self.bar is not None:
                self.bar.update(event.step - self.bar.n)
                self.bar.close()
                self.bar = None
            message = event.message or event.status
            self.write(message if message.startswith(event.status) else f"{event.status}: {message}")


def shown(metrics: dict[str, float], loss_digits: int, d_digits: int) -> str:
    """"loss_D 0.693 loss_G 0.693 D(x) 0.50 D(G(z)) 0.50": the metrics a logged step shows, by their labels (a single
    D or G step made while paused has only its own)."""
    return " ".join(f"{label(name)} {metrics[name]:.{digits}f}" for names, digits in zip(SHOWN, (loss_digits, d_digits))
                    for name in names if name in metrics)
