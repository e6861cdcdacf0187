"""The package's boundaries, tested rather than kept by convention (issue 17): the Snakefile starts
without numpy or uproot; each image installs what its jobs import; the subpackages import only
layers below them (workflow/snakehep/__init__.py), without cycles; no module is over 500 lines
unless it is one concept."""

from __future__ import annotations

import ast
import graphlib
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflow"
REQUIREMENTS = REPO / "containers" / "requirements"
BLOCKED = ("numpy", "uproot", "awkward", "pyhf", "matplotlib", "scipy", "hist", "boost_histogram")

# The layers, lowest first, each with the lower ones it may import (the subpackages' docstrings).
FOUNDATION = ("errors", "io", "progress", "rulelog")
MAY_IMPORT = {
    "foundation": (), "grid": ("foundation",), "analysis": ("foundation", "grid"),
    "provenance": ("foundation",), "histograms": ("foundation",),
    "selection": ("foundation", "grid", "analysis", "histograms"),
    "statistics": ("foundation", "analysis", "histograms"),
    "plotting": ("foundation", "histograms", "statistics"), "demo": ("foundation", "analysis"),
}
MAY_IMPORT |= {"steps": tuple(MAY_IMPORT), "cli": (*MAY_IMPORT, "steps")}
LONG_MODULES = {  # over 500 lines, and one concept each
    "selection/semantics.py": "the table of the expression language's functions and their types",
    "selection/kernel_numpy.py": "one kernel of the expression language (flat arrays and offsets)",
}
# A job, `python -m snakehep job RULE`: the command line (its other commands do not run), its job
# command, steps.job.run, and the step's run.
JOB_ROOTS = ("snakehep.cli", "snakehep.cli:cmd_job", "snakehep.steps.job:run")
OPTIONAL_IMPORTS = {  # imported by a reachable function, on a branch that jobs never take
    ("snakehep.progress", "tqdm"): "only to show a bar on a terminal; jobs never show one",
}
CALLS_NOT_FOLLOWED = {  # (module, function): the argument that keeps the job off a heavy branch
    ("snakehep.statistics.workspace", "load_samples"): "resolve=False",  # metadata, no Rucio
}
NOT_AT_RUN = re.compile(r"__name__|TYPE_CHECKING")  # the tests of if-blocks an import does not run
# Import names of distributions named otherwise, for those not installed here.
IMPORT_NAMES = {"yaml": "pyyaml", "boost_histogram": "boost-histogram", "rucio": "rucio-clients"}


def parse_package(root: Path) -> dict[str, ast.Module]:
    """Every module of the package snakehep under ``root``, by dotted name."""
    modules = {}
    for path in sorted((root / "snakehep").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return modules


def import_targets(node: ast.Import | ast.ImportFrom, modules) -> list[tuple[str, str]]:
    """(local name, what it names) of an import: a module, or ``module:attribute``."""
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0])
                for a in node.names]
    assert node.level == 0, "relative import"
    return [(a.asname or a.name, f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
             else f"{node.module}:{a.name}") for a in node.names]


def imports(tree: ast.AST, modules, *, functions: bool = True):
    """(line, module) of the imports in ``tree`` (with ``functions``: also those in its defs)."""
    for node in walk(tree, into_functions=functions):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from ((node.lineno, t.split(":")[0]) for _, t in import_targets(node, modules))


def walk(node: ast.AST, *, into_functions: bool):
    """The nodes under ``node`` but annotations (never evaluated: ``from __future__ import
    annotations``); without ``into_functions`` only what runs at import: no def bodies, no
    ``if __name__ == "__main__":``, no ``if TYPE_CHECKING:``."""
    for field, value in ast.iter_fields(node):
        children = [] if field in ("annotation", "returns") else value if isinstance(value, list) else [value]
        for child in (c for c in children if isinstance(c, ast.AST)):
            if into_functions or not (isinstance(child, ast.If) and NOT_AT_RUN.search(ast.unparse(child.test))):
                yield child
                if into_functions or not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    yield from walk(child, into_functions=into_functions)


def job_imports(modules: dict[str, ast.Module], roots) -> set[tuple[str, str]]:
    """(importing module, top-level name) of the third-party imports that running ``roots``
    ("module": its import; "module:name": a function or class) can execute: the import-time code
    of each module loaded, and the functions and classes reachable from ``roots`` by name."""
    todo, seen, found = list(roots), set(), set()
    while todo:
        if (unit := todo.pop()) in seen:
            continue
        seen.add(unit)
        module, _, name = unit.partition(":")
        defs = {node.name: node for node in modules[module].body if hasattr(node, "name")}
        aliases = dict(target for node in walk(modules[module], into_functions=True)
                       if isinstance(node, (ast.Import, ast.ImportFrom))
                       for target in import_targets(node, modules))
        if name and name not in defs:
            continue
        todo += [module.rsplit(".", n)[0] for n in range(module.count(".") + 1)]  # and __init__s
        for node in walk(defs[name] if name else modules[module], into_functions=bool(name)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for _, target in import_targets(node, modules):
                    top = target.split(".")[0].split(":")[0]
                    if top == "snakehep":
                        todo.append(target.split(":")[0])  # loads the module; a name runs if used
                    elif top not in sys.stdlib_module_names | {"__future__"}:
                        found.add((module, top))
            elif isinstance(node, ast.Name) and (module, node.id) not in CALLS_NOT_FOLLOWED:
                todo += [f"{module}:{node.id}"] if node.id in defs else [
                    t for t in [aliases.get(node.id, "")] if t.startswith("snakehep")]
            elif isinstance(node, ast.Attribute) and aliases.get(getattr(node.value, "id", "")) in modules:
                todo.append(f"{aliases[node.value.id]}:{node.attr}")  # module.name
    return {entry for entry in found if entry not in OPTIONAL_IMPORTS}


def canonical(requirement: str | Requirement) -> str:
    """A distribution's name as pip compares them, from a name or a requirement."""
    return re.sub(r"[-_.]+", "-", Requirement(str(requirement)).name).lower()


def image_distributions(requirements: Path) -> set[str]:
    """What an image's requirement list installs: its lines (``-r`` followed) and what they
    require in turn (as installed here), without extras."""
    names = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if (line := line.split("#")[0].strip()).startswith("-r "):
            names |= image_distributions(requirements.parent / line[3:].strip())
        elif line:
            names.add(canonical(line))
    todo = list(names)
    while todo:
        for requirement in map(Requirement, metadata.requires(todo.pop()) or ()):
            name = canonical(requirement)
            if name not in names and (not requirement.marker or requirement.marker.evaluate({"extra": ""})):
                names.add(name)
                todo.append(name)
    return names


def missing_distributions(found: set[tuple[str, str]], installed: set[str]) -> list[str]:
    """The imports in ``found`` whose distribution is not ``installed``."""
    known = metadata.packages_distributions()
    missing = []
    for module, name in sorted(found):
        distributions = {canonical(d) for d in known.get(name, [IMPORT_NAMES.get(name, name)])}
        if not distributions & installed:
            missing.append(f"{module} imports {name} ({', '.join(sorted(distributions))})")
    return missing


def rule_images() -> dict[str, str]:
    """Each rule's image: the ``image("NAME")`` of its rule file; ``image(step)``: the rules
    provenance_{step}, one per image."""
    from snakehep.steps.job import RULES

    images = {}
    for path in sorted((WORKFLOW / "rules").glob("*.smk")):
        if named := re.search(r'image\("(\w+)"\)', path.read_text()):
            images[path.stem] = named.group(1)
        elif "image(step)" in path.read_text():
            images |= {r: r.removeprefix("provenance_") for r, m in RULES.items() if m == path.stem}
    assert set(images) == set(RULES)
    return images


def test_each_image_installs_what_its_jobs_import():
    from snakehep.steps.job import RULES

    modules, missing = parse_package(WORKFLOW), {}
    for rule, image in rule_images().items():
        found = job_imports(modules, (*JOB_ROOTS, f"snakehep.steps.{RULES[rule]}:run"))
        if lacking := missing_distributions(found, image_distributions(REQUIREMENTS / f"{image}.txt")):
            missing[f"{rule} ({image})"] = lacking
    assert not missing
    for (module, function), argument in CALLS_NOT_FOLLOWED.items():  # still true?
        calls = [ast.unparse(node) for node in ast.walk(modules[module])
                 if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function]
        assert calls and all(argument in call for call in calls), (module, calls)


def test_the_image_check_finds_a_planted_violation(tmp_path):
    """A job that reaches matplotlib through a helper module: reported for the fetch image; numpy,
    imported in a function the job does not reach, is not."""
    (tmp_path / "snakehep" / "steps").mkdir(parents=True)
    for name, text in {"__init__.py": "", "steps/__init__.py": "",
                       "steps/leak.py": "def run(job):\n from snakehep import draw\n draw.figure()",
                       "draw.py": "import json\ndef figure():\n helper()\ndef helper():\n import "
                                  "matplotlib.pyplot\ndef unused():\n import numpy"}.items():
        (tmp_path / "snakehep" / name).write_text(text)
    found = job_imports(parse_package(tmp_path), ["snakehep.steps.leak:run"])
    assert found == {("snakehep.draw", "matplotlib")}
    fetch = image_distributions(REQUIREMENTS / "fetch.txt")
    assert missing_distributions(found, fetch) == ["snakehep.draw imports matplotlib (matplotlib)"]


# Run with the heavy libraries not importable: common.smk's imports of snakehep, then each step's
# params builder and input function, on the demo's config and one job of each rule.
STARTUP = """
import importlib.abc, json, sys, yaml
payload = json.loads(sys.argv[1])
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in payload["blocked"]:
            raise ImportError(f"{name}: not installed where the Snakefile starts")
sys.meta_path.insert(0, Blocked())
for line in payload["imports"]:
    exec(line)
from snakehep.analysis.config import validate
from snakehep.steps.context import StepContext
from snakehep.steps.job import RULES, step_module
config = yaml.safe_load(open(payload["config"], encoding="utf-8"))
sample = next(iter(config["samples"]))  # three files, a job each, merged in two levels
config["samples"][sample]["inputs"] = [f"resources/demo/{sample}/part{i}.root" for i in range(3)]
config["batch"] = {"files_per_job": 1, "merge_fan_in": 2}
config["reinterpretation"] = payload["reinterpretation"]  # a patchset of one patch, written by the test
context = StepContext.from_config(validate(config))
wildcards = {"sample": sample, "group": "0", "part": "0", "level": "1", "index": "0",
             "observable": context.observables[0], "signal": context.signals[0]}
for path in list(context.downloads)[:1]:
    top = next(d for d in context.download_dirs if path.startswith(d + "/"))
    wildcards |= dict(zip(("download_dir", "scope", "name"), [top, *path[len(top) + 1:].split("/", 1)]))
for rule in RULES:
    module = step_module(rule)
    if rule == "rucio_download" and not context.downloads:
        continue
    options = {"step": rule.removeprefix("provenance_")} if module.__name__.endswith("_step") else {}
    module.params(context, wildcards, **options)
    if hasattr(module, "input_files"):
        module.input_files(context, wildcards)
"""


def test_the_snakefile_starts_without_numpy_and_uproot(tmp_path):
    """Only the start-up, not a dry run of snakemake: snakemake itself imports pandas, so numpy."""
    patchset = {"metadata": {"labels": ["m"]}, "patches": [{"metadata": {"name": "P_1", "values": [1.0]},
                                                            "patch": []}]}
    (tmp_path / "patchset.json").write_text(json.dumps(patchset))
    common = (WORKFLOW / "rules" / "common.smk").read_text(encoding="utf-8")
    lines = re.findall(r"^from snakehep[\w.]* import [\w, ]+$", common, flags=re.M)
    assert lines, "common.smk imports nothing of snakehep?"
    payload = {"blocked": BLOCKED, "imports": lines, "config": str(REPO / "tests/data/demo_config.yaml"),
               "reinterpretation": {"workspace": str(tmp_path / "BkgOnly.json"),
                                    "patchset": str(tmp_path / "patchset.json")}}
    result = subprocess.run([sys.executable, "-c", STARTUP, json.dumps(payload)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(WORKFLOW)},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def layer(module: str) -> str:
    """The layer of a module of snakehep: its subpackage's, or its own (top-level modules)."""
    unit = module.split(".")[1] if "." in module else "foundation"
    return "foundation" if unit in FOUNDATION else "cli" if unit == "__main__" else unit


def test_no_upward_or_sideways_imports():
    """Each import, at module level or in a function, stays in its layer or goes to one it may
    import; the table itself lets each layer import only layers listed before it."""
    order, modules = list(MAY_IMPORT), parse_package(WORKFLOW)
    assert all(order.index(low) < order.index(up) for up, lows in MAY_IMPORT.items() for low in lows)
    assert {layer(name) for name in modules} <= set(MAY_IMPORT)
    wrong = [f"{name}:{line} imports {target}" for name, tree in modules.items()
             for line, target in imports(tree, modules) if target.startswith("snakehep.")
             and layer(target) != layer(name) and layer(target) not in MAY_IMPORT[layer(name)]]
    assert not wrong


def test_no_cycles_between_subpackages():
    """Module-level imports between the subpackages and top-level modules form no cycle."""
    modules, unit = parse_package(WORKFLOW), lambda name: ".".join(name.split(".")[:2])
    graph = {unit(name): set() for name in modules}
    for name, tree in modules.items():
        graph[unit(name)] |= {unit(t) for _, t in imports(tree, modules, functions=False)
                              if t.startswith("snakehep.") and unit(t) != unit(name)}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError, naming the cycle


def test_subpackage_inits_hold_only_a_docstring():
    for path in sorted((WORKFLOW / "snakehep").glob("*/__init__.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        assert len(body) <= 1 and all(isinstance(node, ast.Expr) for node in body), path
    assert not list(imports(ast.parse((WORKFLOW / "snakehep/__init__.py").read_text()), {}))


def test_no_module_over_500_lines_unless_one_concept():
    package = WORKFLOW / "snakehep"
    sizes = {str(p.relative_to(package)): len(p.read_text().splitlines()) for p in package.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 500 and name not in LONG_MODULES} == {}
    assert all(sizes.get(name, 0) > 500 for name in LONG_MODULES), "an allow-listed module is short"
