"""The terminal subscriber: the lines a `dcgan train` prints."""

import io

from dcgan.console import ConsoleProgress
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
