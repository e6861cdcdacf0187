"""Cookiecutter's (and cruft's) post-generation hook, rendered by Jinja before it runs in the new
project's directory: fills the analysis from the template's tracked files
(hooks/snakehep_template.py, the module beside this file in the template)."""

import json
import sys
from pathlib import Path

REPOSITORY = Path(r"""{{ template_repository() }}""")
CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")

sys.path.insert(0, str(REPOSITORY / "hooks"))
import snakehep_template  # noqa: E402

snakehep_template.generate(REPOSITORY, Path.cwd(), CONTEXT)
