"""Imported first by every rule script: puts this workflow's own `snakehep` package (in
`workflow/`) on the import path, so that a rule runs in any environment that has the
dependencies (a conda environment of envs/, a container image), whether snakehep is installed
there or not."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
