"""The terminal as a subscriber: a tqdm progress bar with ETA and live losses, and the log lines."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm

from dcgan.events import (ENDED, CheckpointSaved, EpochEnd, Event, HyperparameterChanged, Log, RunStarted,
                          StatusChanged, StepMetrics)
from dcgan.vocabulary import D_FAKE, D_REAL, IMAGES_PER_S, LOSS_D, LOSS_G, label

SHOWN = ((LOSS_D, LOSS_G), (D_REAL, D_FAKE))  # the losses, then D's probabilities, on every line
# The first steps are slow (warm-up, the early sample grids at steps 0, 10, 25, 50): a time left measured over them
# said 1:07:29 for a run of 10 minutes. It is '?' until this many steps have run, then measured from there.
WARM_STEPS = 50
BAR_MIN = 10  # a bar narrower than this says less than the percentage beside it


def progress_lines(quiet: bool = False, prefix: str = "") -> Callable[[str], None]:
    """A command's `progress` callback: each line on stderr as it comes (the results go to stdout); none when
    quiet."""
    if quiet:
        return lambda line: None
    return lambda line: print(prefix + line, file=sys.stderr, flush=True)


def layout(bar: bool, left: str) -> str:
    """tqdm's bar_format: percentage, the bar or not, steps done of all, time spent < `left`, the numbers."""
    return (("{percentage:3.0f}%|{bar}|" if bar else "{percentage:3.0f}%") + " {n_fmt}/{total_fmt} [{elapsed}<"
            + left + "{postfix}]")


class StepBar(tqdm):
    """tqdm's bar with the run's numbers after it, fitted to the terminal's width: groups of numbers are left out
    from the last (img/s, then the epoch), and below the losses and D's outputs the bar itself goes, instead of
    tqdm's cutting the line off mid-number at the edge. Its time left comes from `steady_rate` and, when a time
    budget (--minutes) ends the run first, from the budget."""

    def __init__(self, *args, **kwargs):
        self.groups: list[str] = []  # "loss_D 0.912 loss_G 2.210", "D(x) 0.70 D(G(z)) 0.30", "ep 1", "812 img/s"
        self.steady_rate: float | None = None  # steps/s after the warm-up; None: the time left shows as '?'
        self.budget_end: float | None = None  # time.monotonic() at which --minutes ends the run
        super().__init__(*args, bar_format=layout(True, "?"), **kwargs)

    def time_left(self) -> str:
        if not self.steady_rate:
            return "?"
        steps = (self.total - self.n) / self.steady_rate
        budget = None if self.budget_end is None else max(0.0, self.budget_end - time.monotonic())
        if budget is not None and budget < steps:  # cpu-fast: 100 epochs, 5 minutes
            return f"{tqdm.format_interval(budget)} (time budget)"
        return tqdm.format_interval(steps)

    @property
    def format_dict(self):
        d = super().format_dict
        d["bar_format"], d["postfix"] = fitted(d, self.groups, self.time_left())
        return d


def fitted(d: dict, groups: list[str], left: str) -> tuple[str, str]:
    """The bar format and the numbers after it that fit d["ncols"] columns: with the bar when it leaves room for
    the losses and D's outputs (or when leaving it out shows no more), else without."""
    def fits(bar: bool) -> int:  # how many groups fit
        for k in range(len(groups), 0, -1):
            line = tqdm.format_meter(**{**d, "bar_format": layout(False, left), "postfix": " ".join(groups[:k]),
                                        "ncols": None})
            if len(line) + (BAR_MIN + 1 if bar else 0) <= d["ncols"]:
                return k
        return 0

    if not d.get("ncols"):  # width unknown: everything
        return layout(True, left), " ".join(groups)
    with_bar = fits(True)
    if with_bar >= min(2, len(groups)) or with_bar == fits(False):
        return layout(True, left), " ".join(groups[:with_bar])
    return layout(False, left), " ".join(groups[:fits(False)])


class ConsoleProgress:
    """A progress bar on a terminal; elsewhere (output piped to a file or a log, a Jupyter cell) a line per logged
    step at most every `every_s` seconds (the first, then one per interval, and the last), since a bar's redraws
    would land in the file as lines of their own, with other lines glued to them, and a line per logged step was
    1,875 lines for the default 5 epochs (metrics.jsonl keeps them all)."""

    def __init__(self, stream: TextIO | None = None, bar: bool = True, columns: int | None = None,
                 every_s: float = 10.0):
        self.stream = stream = stream if stream is not None else sys.stderr  # stderr now, not at import
        self.show_bar = bar and getattr(stream, "isatty", lambda: False)()
        self.columns = columns  # the terminal's width; None: measured at every redraw
        self.every_s = every_s  # 0: a line for every logged step
        self.last_line: float | None = None  # time.monotonic() of the last step line
        self.bar: StepBar | None = None
        self.steps_per_epoch = 1
        self.total_steps = 0
        self.steady_from: tuple[float, int] | None = None  # (time, step) where the warm-up ended
        self.error_said = False  # the trainer says why it failed in an error line before its status

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.steps_per_epoch, self.total_steps = event.steps_per_epoch, event.total_steps
            self.write(f"run: {event.run_dir or '(no files: dry run)'}")
            self.steady_from = self.last_line = None
            if self.show_bar:
                self.bar = StepBar(total=event.total_steps, initial=event.start_step, file=self.stream,
                                   unit="step", ncols=self.columns, dynamic_ncols=self.columns is None)
                minutes = event.config.get("minutes") or 0  # this session's budget
                self.bar.budget_end = time.monotonic() + 60 * minutes if minutes else None
        elif isinstance(event, StepMetrics):
            m = event.metrics
            if self.bar is not None:
                now = time.monotonic()
                if self.steady_from is None and event.step - self.bar.initial >= WARM_STEPS:
                    self.steady_from = (now, event.step)
                elif self.steady_from is not None and event.step > self.steady_from[1]:
                    self.bar.steady_rate = (event.step - self.steady_from[1]) / max(now - self.steady_from[0], 1e-9)
                self.bar.groups = [shown(m, 3, 2, (LOSS_D, LOSS_G)), shown(m, 3, 2, (D_REAL, D_FAKE)),
                                   f"ep {event.epoch + 1}"]
                if IMAGES_PER_S in m:
                    self.bar.groups.append(f"{m[IMAGES_PER_S]:.0f} img/s")
                self.bar.groups = [g for g in self.bar.groups if g]
                self.bar.update(event.step - self.bar.n)
            else:
                now = time.monotonic()
                due = self.last_line is None or now - self.last_line >= self.every_s
                if due or event.step >= self.total_steps or event.manual:
                    self.last_line = now
                    speed = f" {m[IMAGES_PER_S]:.0f} img/s" if IMAGES_PER_S in m else ""
                    self.write(f"step {event.step}/{self.total_steps} ep {event.epoch + 1} {shown(m, 4, 3)}{speed}")
        elif isinstance(event, EpochEnd):
            self.write(f"epoch {event.epoch} done in {event.seconds:.1f} s (step {event.step})")
        elif isinstance(event, Log):  # the device among them: the trainer's first log line
            self.write(event.message if event.level == "info" else f"{event.level}: {event.message}")
            self.error_said = event.level == "error"
        elif isinstance(event, HyperparameterChanged):
            self.write(f"from step {event.step + 1}: {event.field} {event.old} -> {event.new}")
        elif isinstance(event, CheckpointSaved):
            pass
        elif isinstance(event, StatusChanged) and event.status in ENDED:
            if self.bar is not None:
                self.bar.update(event.step - self.bar.n)
                self.bar.close()
                self.bar = None
            if event.status == "failed" and self.error_said:
                return  # 'failed: X' right after 'error: training failed at step N: X' says it twice
            message = event.message or event.status
            self.write(message if message.startswith(event.status) else f"{event.status}: {message}")


def shown(metrics: dict[str, float], loss_digits: int, d_digits: int, only: tuple[str, ...] | None = None) -> str:
    """"loss_D 0.693 loss_G 0.693 D(x) 0.50 D(G(z)) 0.50": the metrics a logged step shows, by their labels (a single
    D or G step made while paused has only its own); `only`: those of these names."""
    return " ".join(f"{label(name)} {metrics[name]:.{digits}f}" for names, digits in zip(SHOWN, (loss_digits, d_digits))
                    for name in names if name in metrics and (only is None or name in only))
