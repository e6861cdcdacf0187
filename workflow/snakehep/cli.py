"""The ``snakehep`` command line: one subcommand per stage.

Heavy modules are imported inside the command functions so that ``snakehep --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from snakehep.errors import SnakehepError

log = logging.getLogger(__name__)


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError as err:
        raise SnakehepError(f"{path}: no such file") from err
    except json.JSONDecodeError as err:
        raise SnakehepError(f"{path}: not valid JSON ({err})") from err


def _emit_json(result: dict, output: str | None) -> None:
    text = json.dumps(result, indent=2)
    if output is None:
        print(text)
        return
    from snakehep.io import write_text_atomic

    write_text_atomic(Path(output), text + "\n")


def cmd_demo_data(args: argparse.Namespace) -> None:
    from snakehep import config as config_module
    from snakehep import demo

    analysis = config_module.load_config(args.config)
    demo.generate_demo_inputs(analysis, samples=args.sample or None, overwrite=args.overwrite)


def cmd_hypotest(args: argparse.Namespace) -> None:
    from snakehep import inference

    spec = _read_json(args.workspace)
    result = inference.hypotest_workspace(spec, mu=args.mu, source=args.workspace)
    _emit_json(result, args.output)


def cmd_limit(args: argparse.Namespace) -> None:
    from snakehep import inference

    spec = _read_json(args.workspace)
    result = inference.upper_limit_workspace(spec, cl=args.cl, source=args.workspace)
    _emit_json(result, args.output)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snakehep", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, function: Callable[[argparse.Namespace], None], help_text: str):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(function=function)
        return sub

    demo_data = add("demo-data", cmd_demo_data, "generate the demo NanoAOD-like input files")
    demo_data.add_argument("--config", default="config/config.yaml", help="analysis config")
    demo_data.add_argument("--sample", action="append", help="only this sample (repeatable)")
    demo_data.add_argument("--overwrite", action="store_true", help="regenerate existing files")

    hypotest = add("hypotest", cmd_hypotest, "CLs at one signal strength (asymptotic, q~mu)")
    hypotest.add_argument("workspace", help="pyhf workspace JSON")
    hypotest.add_argument("--mu", type=float, default=1.0, help="tested POI value")
    hypotest.add_argument("-o", "--output", help="write the JSON here instead of stdout")

    limit = add("limit", cmd_limit, "CLs upper limit on the POI: observed and expected band")
    limit.add_argument("workspace", help="pyhf workspace JSON")
    limit.add_argument("--cl", type=float, default=0.95, help="confidence level")
    limit.add_argument("-o", "--output", help="write the JSON here instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        args.function(args)
    except SnakehepError as err:
        print(f"snakehep {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
