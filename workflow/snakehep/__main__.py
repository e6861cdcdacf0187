"""``python -m snakehep``: the command line (what the workflow's rules call)."""

import sys

from snakehep.cli import main

sys.exit(main())
