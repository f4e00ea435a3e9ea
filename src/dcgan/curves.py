"""A run's training curves after the fact, from its metrics.jsonl: columns to plot yourself, or a figure.

    from dcgan import load_curves
    curves = load_curves("runs/<name>")      # shows as a figure in Jupyter (losses and D's outputs)
    curves.steps, curves["loss/D"]           # the logged steps and a metric's values (None where not logged)
    curves.plot(["loss/G", "D/fake"])        # a matplotlib Figure of the metrics named

Drawing needs matplotlib (`pip install 'dcgan[notebook]'`); the columns do not.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from dcgan.errors import ConfigError
from dcgan.rundir import METRICS, read_metrics, run_of
from dcgan.vocabulary import D_FAKE, D_REAL, LOSS_D, LOSS_G, W_DISTANCE, label

# The default figure: what the PyTorch DCGAN tutorial plots (G's and D's losses), and D's outputs beside them.
PANELS = (("losses", (LOSS_D, LOSS_G)), ("D's outputs", (D_REAL, D_FAKE, W_DISTANCE)))
NOT_METRICS = ("step", "epoch", "time")  # a step row's bookkeeping


@dataclass(repr=False)
class Curves:
    """The logged steps of a run and each metric's value at them (None where a row lacks the metric)."""

    run: Path
    steps: list[int]
    values: dict[str, list[float | None]]

    def __repr__(self) -> str:
        # A summary, not the columns: a REPL would print every value of a long run (tens of kilobytes).
        span = f"steps {self.steps[0]}..{self.steps[-1]}" if self.steps else "no steps yet"
        return f"<Curves of {self.run.name}: {len(self.steps)} logged {span}; metrics {', '.join(self.values)}>"

    def __getitem__(self, name: str) -> list[float | None]:
        if name not in self.values:
            raise KeyError(f"{self.run} logged no {name!r}; it logged {', '.join(self.values) or 'nothing yet'}")
        return self.values[name]

    def __len__(self) -> int:
        return len(self.steps)

    def plot(self, names: Sequence[str] | None = None):
        """A matplotlib Figure: the metrics named on one panel, or by default the losses and D's outputs."""
        try:
            from matplotlib.figure import Figure  # not pyplot: no window, no global state; Jupyter shows it
        except ImportError as e:
            raise ConfigError(f"drawing curves needs matplotlib ({e}): pip install 'dcgan[notebook]'; the columns "
                              f"(curves.steps, curves['loss/D']) need nothing") from None
        if names is not None:
            unknown = [n for n in names if n not in self.values]
            if unknown:
                self[unknown[0]]  # the KeyError that says what was logged
        panels = [("", tuple(names))] if names is not None else [
            (title, tuple(n for n in wanted if n in self.values)) for title, wanted in PANELS]
        panels = [(title, shown) for title, shown in panels if shown]
        figure = Figure(figsize=(5.5 * max(1, len(panels)), 3.4), layout="tight")
        for i, (title, shown) in enumerate(panels or [("no metrics logged yet", ())]):
            ax = figure.add_subplot(1, max(1, len(panels)), i + 1)
            for name in shown:
                points = [(s, v) for s, v in zip(self.steps, self.values[name]) if v is not None]
                ax.plot([s for s, _ in points], [v for _, v in points], label=label(name), linewidth=1)
            ax.set_title(title)
            ax.set_xlabel("step")
            if shown:
                ax.legend(fontsize=8)
        return figure

    def _repr_png_(self) -> bytes | None:
        """Jupyter shows the default figure (nothing more than the columns when matplotlib is missing)."""
        try:
            figure = self.plot()
        except ConfigError:
            return None
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def load_curves(run: str | os.PathLike) -> Curves:
    """A run's curves from its metrics.jsonl (a run folder, or a checkpoint inside one); the rows of evaluations
    and epoch ends are left out: they are events, not steps."""
    folder = run_of(Path(os.path.expanduser(str(run))))
    if folder is None or not (folder / METRICS).is_file():
        raise ConfigError(f"{run} is not a run folder with {METRICS}: give runs/<name> (`dcgan train` makes them)")
    rows = [r for r in read_metrics(folder / METRICS) if "event" not in r and isinstance(r.get("step"), int)]
    names: dict[str, None] = {}
    for row in rows:
        names.update((k, None) for k, v in row.items() if k not in NOT_METRICS and isinstance(v, (int, float)))
    return Curves(folder, [r["step"] for r in rows],
                  {name: [_number(r.get(name)) for r in rows] for name in names})


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
