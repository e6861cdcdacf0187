#!/usr/bin/env python3
"""Regenerates docs/report.png, the README's picture of the HTML report (snakemake --report): one
result with its caption and plot (by default the Brazil plot of Limits), as headless Chromium
shows it.

Run it where the workflow has run, after `snakemake --profile profiles/local`:

    python3 docs/report_screenshot.py [ANALYSIS] [--report report.html] [--output docs/report.png]

It writes the report itself (`snakemake --report`, in a temporary directory) unless given one: a
run with other config files needs their report, made with them. The browser code is the report
test's (tests/integration/report_browser.py; Debian's chromium and chromium-driver, selenium),
so the picture is of the page that test checks. The PNG is reduced to 256 colours (Pillow):
about 60 kB instead of 160 kB, no visible difference on flat plots and text."""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from report_browser import chromium, open_report, open_result  # noqa: E402

log = logging.getLogger("report_screenshot")


def write_report(analysis: Path, report: Path) -> None:
    """``snakemake --report`` of the run in ``analysis`` (its default config, the local profile's
    report stylesheet) into ``report``."""
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--report", str(report)]
    result = subprocess.run(command, cwd=analysis, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {analysis}:\n{result.stderr[-3000:]}")


def screenshot(report: Path, output: Path, category: str, result: str, size: tuple[int, int]) -> None:
    """``result`` of ``category`` shown in ``report`` at a viewport of ``size``, saved as ``output``."""
    from PIL import Image

    with chromium(*size) as driver:
        categories = open_report(driver, report)
        if category not in categories:
            raise SystemExit(f"{report}: no category {category!r} (it has {', '.join(categories)})")
        open_result(driver, category, result)
        png = driver.get_screenshot_as_png()
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(output, optimize=True)
    log.info("%s: %s of %s, %d kB", output, result, category, output.stat().st_size // 1024)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("analysis", nargs="?", type=Path, default=Path("."),
                        help="the directory where the workflow has run (default: .)")
    parser.add_argument("--report", type=Path,
                        help="an existing report.html (default: snakemake --report writes one)")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("report.png"),
                        help="the PNG to write (default: docs/report.png)")
    parser.add_argument("--category", default="Limits", help="the report's category to show (default: Limits)")
    parser.add_argument("--result", default="brazil.png", help="part of the path of its result to show")
    parser.add_argument("--size", default="1400x900", help="the browser's viewport, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    width, height = (int(number) for number in args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        report = args.report
        if report is None:
            report = Path(scratch) / "report.html"
            write_report(args.analysis, report)
        screenshot(report, args.output, args.category, args.result, (width, height))


if __name__ == "__main__":
    main()
