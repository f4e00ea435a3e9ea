"""The terminal subscriber: the lines a `dcgan train` prints."""

import io

from dcgan.console import ConsoleProgress
from dcgan.events import StatusChanged


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
