"""``python -m minigraph.compat PROGRAM.py [args]``: see `minigraph.compat.runner`."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
