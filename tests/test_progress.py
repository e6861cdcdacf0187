"""Progress of ``snakehep demo-data`` and ``snakehep select``: events done of the total and the
rate when standard error is a terminal; nothing when it is not (a log, a pipe); nothing from a
rule's job even on a terminal; and the jobs run without tqdm (not in envs/ nor the images)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import yaml
from snakehep import cli
from snakehep.analysis.samples import Sample
from snakehep.demo.settings import generation_settings

WORKFLOW = Path(cli.__file__).parents[1]
EVENTS = 500
BAR = re.compile(rf"ttbar[^\r\n]*: 100%\|[^\r\n]*\| {EVENTS}/{EVENTS} events \[[^\]]*ev/s\]")


def run(arguments: list[str], *, cwd: Path, terminal: tuple[int, int] | None) -> str:
    """``python -m snakehep ARGUMENTS``; what it wrote to standard error, which is a pipe, or a
    pseudo-terminal of ``terminal`` (columns, lines; 0 x 0: one that does not tell its size)."""
    command = [sys.executable, "-m", "snakehep", *arguments]
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    if terminal is None:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stderr
    controller, device = pty.openpty()
    columns, lines = terminal
    fcntl.ioctl(device, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    output = b""
    with subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=device) as process:
        os.close(device)
        try:
            while select.select([controller], [], [], 300)[0]:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the process has closed the terminal
                    break
                if not data:
                    break
                output += data
            else:
                process.kill()
                pytest.fail(f"{command} wrote nothing for 300 s")
        finally:
            os.close(controller)
        assert process.wait(timeout=60) == 0, output.decode(errors="replace")
    return output.decode(errors="replace")


@pytest.fixture
def workdir(tmp_path, default_config) -> Path:
    config = dict(default_config)
    config["demo"] = {**config["demo"], "events_per_file": EVENTS}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


DEMO = ["demo-data", "--config", "config.yaml", "--sample", "ttbar"]
SELECT = ["select", "--config", "config.yaml", "--sample", "ttbar", "-o", "ttbar.npz"]


@pytest.mark.parametrize("size", [(120, 40), (0, 0)], ids=["sized", "unsized"])
def test_commands_show_events_and_rate_on_a_terminal(workdir, size):
    shown = run(DEMO, cwd=workdir, terminal=size)
    assert BAR.search(shown), shown
    assert "ttbar part 0" in shown
    shown = run(SELECT, cwd=workdir, terminal=size)
    assert BAR.search(shown), shown
    assert "ttbar part0.root" in shown


def test_commands_show_no_progress_when_standard_error_is_not_a_terminal(workdir):
    for arguments in (DEMO, SELECT):
        written = run(arguments, cwd=workdir, terminal=None)
        assert "ev/s" not in written and "%|" not in written, written
        assert "snakehep." in written  # the log lines are there


def test_rule_jobs_show_no_progress_even_on_a_terminal(workdir, default_config):
    config = dict(default_config)
    config["demo"] = {**config["demo"], "events_per_file": EVENTS}
    source = workdir / "ttbar.root"
    demo_params = {"settings": generation_settings(config, "ttbar"), "sample": "ttbar", "part": "0"}
    select_params = {"analysis": config, "inputs": [str(source)],
                     "sample": Sample("ttbar", "ttbar", "background", (str(source),)).selection_params()}
    for rule, params, files in (
        ("demo_sample", demo_params, ["--output", "files", str(source)]),
        ("select", select_params, ["--input", "files", str(source), "--output", "files", "ttbar.npz"]),
    ):
        log = workdir / f"{rule}.log"
        shown = run(["job", rule, "--params", json.dumps(params), "--log", str(log), *files], cwd=workdir,
                    terminal=(120, 40))
        for written in (shown, log.read_text()):
            assert "ev/s" not in written and "%|" not in written, written
    assert (workdir / "ttbar.npz").exists()


def test_jobs_run_without_tqdm(workdir, default_config):
    """What a job in a conda environment of envs/ or a container image runs, with no tqdm."""
    script = (
        "import sys, yaml\n"
        "sys.modules['tqdm'] = None  # import tqdm fails\n"
        "from snakehep.demo import generator as demo\n"
        "from snakehep.steps.select import select_group\n"
        "from snakehep.analysis.samples import Sample\n"
        "config = yaml.safe_load(open('config.yaml'))\n"
        "demo.generate_sample_part(config, sample='ttbar', part=0, output='ttbar.root')\n"
        "select_group(config, sample=Sample('ttbar', 'ttbar', 'background', ('ttbar.root',)),\n"
        "             inputs=['ttbar.root'], output='ttbar.npz')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    result = subprocess.run([sys.executable, "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert (workdir / "ttbar.npz").exists()
