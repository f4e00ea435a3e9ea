"""The terminal subscriber: the lines a `dcgan train` prints."""

import io

from dcgan.console import ConsoleProgress, progress_lines
from dcgan.events import Log, RunStarted, StatusChanged, StepMetrics


def ending(status: str, message: str) -> str:
    out = io.StringIO()
    ConsoleProgress(stream=out, bar=False)(StatusChanged(status, 300, message))
    return out.getvalue()


def test_the_last_line_says_how_the_run_ended_once():
    assert ending("finished", "finished 300 steps") == "finished 300 steps\n"
    assert ending("stopped", "stopped at step 28") == "stopped at step 28\n"
    assert ending("finished", "the 5-minute budget ended at step 300") == \
        "finished: the 5-minute budget ended at step 300\n"
    assert ending("failed", "out of memory") == "failed: out of memory\n"
    assert ending("finished", "") == "finished\n"
    out = io.StringIO()  # a failure the trainer has just said in an error line is not said again
    console = ConsoleProgress(stream=out, bar=False)
    console(Log("error", "training failed at step 7: the disk is full"))
    console(StatusChanged("failed", 7, "the disk is full"))
    assert out.getvalue() == "error: training failed at step 7: the disk is full\n"


class Piped(io.StringIO):
    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_gets_a_line_per_logged_step_and_a_terminal_a_bar():
    """Piped into a file, a bar's redraws (carriage returns) would be lines of their own with the log glued to
    them: there each logged step is one plain line."""
    metrics = {"loss/D": 1.25, "loss/G": 0.75, "D/real": 0.5, "D/fake": 0.25, "speed/images_per_s": 812.0}
    events = [RunStarted("runs/x", {}, "cpu", 0, 100, 50, False), StepMetrics(50, 0, metrics),
              Log("info", "device: cpu"), StatusChanged("finished", 100, "finished 100 steps")]
    piped = Piped()
    progress = ConsoleProgress(stream=piped)
    for event in events:
        progress(event)
    assert piped.getvalue().splitlines() == [
        "run: runs/x", "step 50/100 ep 1 loss_D 1.2500 loss_G 0.7500 D(x) 0.500 D(G(z)) 0.250 812 img/s",
        "device: cpu", "finished 100 steps"]
    terminal = Terminal()
    progress = ConsoleProgress(stream=terminal)
    for event in events:
        progress(event)
    assert "\r" in terminal.getvalue() and "50/100" in terminal.getvalue()  # tqdm's bar, redrawn in place



class Clock:
    """dcgan.console's time, set by hand."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def bar_frames(columns: int, steps=range(10, 210, 10), times=None, total: int = 18750, config=None):
    """The bar's line after each logged step (`times`: the clock then) on a terminal `columns` wide, and all the
    terminal received."""
    import dcgan.console

    clock, real = Clock(), dcgan.console.time
    dcgan.console.time = clock
    try:
        terminal = Terminal()
        progress = ConsoleProgress(stream=terminal, columns=columns)
        progress(RunStarted("runs/x", config or {}, "cpu", 0, total, 3750, False))
        metrics = {"loss/D": 1.2534, "loss/G": 0.7512, "D/real": 0.5, "D/fake": 0.25, "speed/images_per_s": 812.0}
        frames = []
        for i, step in enumerate(steps):
            clock.now = times[i] if times else float(i)
            progress(StepMetrics(step, 0, metrics))
            frames.append(progress.bar.format_meter(**progress.bar.format_dict))
        progress(StatusChanged("finished", steps[-1], "finished"))
    finally:
        dcgan.console.time = real
    return frames, terminal.getvalue()


def test_the_bar_fits_an_80_column_terminal_and_keeps_the_losses_and_ds_outputs():
    """tqdm cut a line wider than the terminal at its edge: at 80 columns the bar was one character and D(x),
    D(G(z)) and img/s were cut off mid-number. Numbers are left out whole from the least needed, and the bar
    itself before the losses and D's outputs."""
    for columns in (80, 100, 120):
        frames, text = bar_frames(columns)
        assert all(len(line) <= columns for line in text.replace("\n", "\r").split("\r")), columns
        assert "loss_D 1.253 loss_G 0.751 D(x) 0.50 D(G(z)) 0.25" in frames[-1], columns
    wide = bar_frames(120)[0][-1]
    assert "812 img/s" in wide and "|" in wide


def test_the_time_left_is_unknown_during_the_warm_up_and_then_measured_after_it():
    """Steps 10-40 slow (1 s per 10, as the first steps and the early grids are), then 10 steps per 0.1 s: the
    time left is '?' until step 50, then measured from there (100 steps/s: 18,650 steps in about 3 minutes), not
    from an average that still holds the slow start (tqdm's said an hour at first)."""
    steps = list(range(10, 110, 10))
    times = [1.0, 2.0, 3.0, 4.0] + [4.0 + 0.1 * k for k in range(1, 7)]  # step 50 at 4.1 s, step 100 at 4.6 s
    frames, _ = bar_frames(200, steps, times)
    assert all("<?" in frame for frame in frames[:5]), frames[:5]  # steps 10 to 50
    assert "<03:06" in frames[-1], frames[-1]  # (18750 - 100) / 100 steps/s = 186.5 s


def test_the_time_left_is_the_budgets_when_minutes_end_the_run_first():
    """cpu-fast trains 100 epochs in at most 5 minutes: the bar said hours were left; it gives the budget's time."""
    steps = list(range(10, 110, 10))
    times = [1.0, 2.0, 3.0, 4.0] + [4.0 + 0.1 * k for k in range(1, 7)]
    frames, _ = bar_frames(200, steps, times, total=375_000, config={"minutes": 5})
    assert "<04:55 (time budget)" in frames[-1], frames[-1]  # 300 s from the start, 4.6 s spent
    frames, _ = bar_frames(200, steps, times, config={"minutes": 5})  # 18,750 steps end first: 186 s
    assert "<03:06," in frames[-1], frames[-1]


def test_piped_lines_come_at_most_every_ten_seconds_with_the_first_and_the_last(monkeypatch):
    """A line per logged step was 1,875 lines for the default run, in a log file or a Jupyter cell: now the first,
    one per 10 s, and the last (metrics.jsonl keeps every logged step)."""
    import dcgan.console

    clock = Clock()
    monkeypatch.setattr(dcgan.console, "time", clock)
    piped = Piped()
    progress = ConsoleProgress(stream=piped)
    progress(RunStarted("runs/x", {}, "cpu", 0, 300, 300, False))
    metrics = {"loss/D": 1.25, "loss/G": 0.75, "D/real": 0.5, "D/fake": 0.25}
    for i, step in enumerate(range(10, 310, 10)):  # a logged step a second
        clock.now = float(i)
        progress(StepMetrics(step, 0, metrics))
    steps = [line.split()[1] for line in piped.getvalue().splitlines() if line.startswith("step ")]
    assert steps == ["10/300", "110/300", "210/300", "300/300"]


def test_the_progress_bar_is_part_of_the_public_api():
    """The README's Python API trains with `subscribers=[ConsoleProgress()]`, imported from dcgan."""
    import dcgan

    assert dcgan.ConsoleProgress is ConsoleProgress and "ConsoleProgress" in dcgan.__all__


def test_the_console_writes_to_stderr_as_it_is_when_made(monkeypatch):
    """Not to the stderr of the moment dcgan.console was imported: one replaced since (a notebook's, a test's
    capture, now closed) made the next dcgan train fail at 'I/O operation on closed file'."""
    import sys

    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    assert ConsoleProgress(bar=False).stream is now


def test_a_commands_progress_lines_go_to_stderr_unless_quiet(capsys):
    progress_lines()("reference features: 8/8 real images")
    progress_lines(prefix="... ")("timing 3 steps")
    progress_lines(quiet=True)("not shown")
    out, err = capsys.readouterr()
    assert out == "" and err == "reference features: 8/8 real images\n... timing 3 steps\n"
