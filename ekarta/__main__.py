"""``python -m ekarta``: the ``ekarta`` command line."""

import sys

from ekarta.cli import main

if __name__ == "__main__":
    sys.exit(main())
