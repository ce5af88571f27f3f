"""Ctrl-C at any moment of a command ends it quietly with status 130, even while its modules load.

The command runs as a real process started the way pip's console script starts it (``import re,
sys; from MODULE import FUNCTION; sys.exit(FUNCTION())``, with the entry point of pyproject.toml).
A ``sitecustomize`` says through a pipe when the process starts importing the command line
(an audit hook on the import of ``ekarta.cli``), and SIGINT follows after a delay: the interrupt
lands in the imports, the parser's construction, or the command itself.  One that comes as the
interpreter shuts down finds Python's handler gone and ends the process by the signal: quiet too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SITECUSTOMIZE = """\
import os, signal, sys
# a test run from a background job inherits SIGINT ignored, and Python then installs no handler
signal.signal(signal.SIGINT, signal.default_int_handler)
_fd = int(os.environ.pop("EKARTA_TEST_IMPORT_FD"))
def _hook(event, args):
    global _fd
    if _fd >= 0 and event == "import" and args[0] == "ekarta.cli":
        os.write(_fd, b"!")
        os.close(_fd)
        _fd = -1
sys.addaudithook(_hook)
"""


def console_script() -> str:
    """The ``ekarta`` script as pip writes it for the entry point of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        entry = tomllib.load(f)["project"]["scripts"]["ekarta"]
    module, function = entry.split(":")
    return (f"import re\nimport sys\nfrom {module} import {function}\n"
            f"sys.exit({function}())\n")


def interrupted(tmp_path: Path, delay: float) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    read_end, write_end = os.pipe()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
               EKARTA_TEST_IMPORT_FD=str(write_end))
    env.pop("EKARTA_READER", None)
    process = subprocess.Popen(
        [sys.executable, "-c", console_script(), "card", "info", "--reader", "emulator:"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        pass_fds=(write_end,))
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as ready:
            assert ready.read(1) == b"!", "the command line was never imported"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0, 0.002, 0.005] + [n * 0.02 for n in range(1, 21)])
def test_an_interrupt_while_the_command_line_loads_exits_130_quietly(tmp_path, delay):
    done = interrupted(tmp_path, delay)
    assert done.stderr == "", done.stderr
    if done.returncode == 0:  # the command had ended before the signal came
        assert "free memory" in done.stdout
    elif done.returncode == -signal.SIGINT:
        pass  # the signal came as the interpreter shut down, with Python's handler gone: quiet
    else:
        assert done.returncode == 130
        # the signal may come once the report has begun, anywhere in it: what is out stays,
        # in whole lines, and the rest never comes
        assert done.stdout == "" or (done.stdout.startswith("MIFARE DESFire")
                                     and done.stdout.endswith("\n"))
