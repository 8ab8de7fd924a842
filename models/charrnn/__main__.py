"""``python -m models.charrnn ...``: the same command line as ``minigraph-charrnn``."""

import sys

from .cli import main

sys.exit(main())
