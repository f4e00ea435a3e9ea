"""A run's curves after the fact (dcgan.curves): the logged steps of metrics.jsonl as columns and as a figure."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dcgan import load_curves
from dcgan.errors import ConfigError
from dcgan.rundir import read_metrics


def test_a_runs_curves_are_its_logged_steps_and_draw_as_a_figure(fashion_run, tmp_path):
    rows = [r for r in read_metrics(fashion_run / "metrics.jsonl") if "event" not in r]
    curves = load_curves(fashion_run)
    assert curves.steps == [r["step"] for r in rows] and len(curves) == len(rows) > 1
    assert curves["loss/D"] == [r["loss/D"] for r in rows] and curves["D/fake"] == [r["D/fake"] for r in rows]
    assert "epoch" not in curves.values and "time" not in curves.values  # bookkeeping, not metrics
    # A REPL shows a summary, not every value (a long run's columns are tens of kilobytes).
    assert repr(curves).startswith(f"<Curves of {fashion_run.name}: {len(rows)} logged steps {rows[0]['step']}..")
    assert "loss/D" in repr(curves) and len(repr(curves)) < 1000
    figure = curves.plot()
    assert [ax.get_title() for ax in figure.axes] == ["losses", "D's outputs"]
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["loss_D", "loss_G"]
    assert [line.get_label() for line in figure.axes[1].get_lines()] == ["D(x)", "D(G(z))"]
    assert list(figure.axes[0].get_lines()[1].get_ydata()) == curves["loss/G"]
    shown = Image.open(io.BytesIO(curves._repr_png_()))  # what Jupyter shows for `load_curves(run)`
    assert shown.format == "PNG" and shown.width > shown.height
    one = curves.plot(["lr/G"])
    assert len(one.axes) == 1 and list(one.axes[0].get_lines()[0].get_xdata()) == curves.steps
    with pytest.raises(KeyError, match="logged no 'loss/d'; it logged .*loss/D"):
        curves.plot(["loss/d"])
    checkpoint = next((fashion_run / "checkpoints").glob("step-*.pt"))
    assert load_curves(checkpoint).steps == curves.steps  # a checkpoint names its run
    with pytest.raises(ConfigError, match="is not a run folder with metrics.jsonl"):
        load_curves(tmp_path)
