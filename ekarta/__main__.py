"""``python -m ekarta`` and the ``ekarta`` console script: the command line.

:func:`run` loads the command line inside its own ``try``, with Ctrl-C deferred until the modules
are loaded: an interrupt inside a compiled extension's initialisation would come out as that
module's failure (an ImportError, a Rust panic printed to stderr), not as KeyboardInterrupt.  A
Ctrl-C while the modules load ends the command right after, as quietly as one later on (exit
status 130, no traceback); from then on it raises KeyboardInterrupt as usual, and a failure it
causes still counts as the interrupt.  This module imports nothing at its top, so that the window
before that ``try`` is as small as the console script's own two imports.
"""

import sys

EXIT_INTERRUPTED = 130
"""The exit status of a command interrupted with Ctrl-C (128 + SIGINT), as shells report it."""

_interrupted: list[int] = []


def _defer(signum: int, frame: object) -> None:
    _interrupted.append(signum)


def _interrupt(signum: int, frame: object) -> None:
    _interrupted.append(signum)
    raise KeyboardInterrupt


def run() -> int:
    """Run the command line of ``sys.argv``; return its exit status."""
    _interrupted.clear()
    try:
        import signal  # a millisecond: its enum came with the console script's re

        # only where Python's own handler is in place (SIG_IGN, as in a background job, stays)
        ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if ours:
            signal.signal(signal.SIGINT, _defer)
        import importlib

        from ekarta.cli import COMMAND_MODULES, main

        for name in COMMAND_MODULES:
            importlib.import_module(name)
        if ours:
            signal.signal(signal.SIGINT, _interrupt)
        if _interrupted:
            return _quiet_exit()
        return main()
    except KeyboardInterrupt:
        return _quiet_exit()
    except BaseException:
        if _interrupted:
            return _quiet_exit()
        raise


def _quiet_exit() -> int:
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave
    except BaseException:  # leaving anyway
        pass
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(run())
