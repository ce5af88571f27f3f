"""``python -m ekarta`` and the ``ekarta`` console script: the command line.

:func:`run` imports the command line inside its own ``try``: an interrupt (Ctrl-C) while the
modules load, before :func:`ekarta.cli.main` has its handlers, ends the command as quietly as
one later on (exit status 130, no traceback).  This module imports nothing itself, so that the
window before that ``try`` is as small as the console script's own two imports.
"""

import sys

EXIT_INTERRUPTED = 130
"""The exit status of a command interrupted with Ctrl-C (128 + SIGINT), as shells report it."""


def run() -> int:
    """Run the command line of ``sys.argv``; return its exit status."""
    try:
        from ekarta.cli import main

        return main()
    except KeyboardInterrupt:
        return _interrupted()


def _interrupted() -> int:
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave
    except (KeyboardInterrupt, ImportError, OSError, ValueError):
        pass
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(run())
