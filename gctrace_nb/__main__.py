"""``python -m gctrace_nb`` is ``gctrace``."""

import sys

from gctrace_nb.cli import main

sys.exit(main())
