"""Process faults on the real ``snakehep`` command (a child process): killed with SIGKILL while it
writes its output, and the disk filling up during the write (a file size limit, and a full tmpfs
where this user may mount one). Each leaves no output that looks complete, and the same command
run again finishes, with the same result as an undisturbed run."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import system_programs
from faults import demo_file, small_config, write_config
from snakehep.histograms.partials import Partial
from snakehep.histograms.store import read_store

REPO = Path(__file__).resolve().parents[1]


def snakehep(*arguments, **options) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "snakehep.cli", *map(str, arguments)]
    return subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True, **options)


def finished(*arguments, **options) -> subprocess.CompletedProcess:
    child = snakehep(*arguments, **options)
    _, error = child.communicate(timeout=120)
    return subprocess.CompletedProcess(child.args, child.returncode, "", error)


def same_histograms(path: Path, other: Path) -> bool:
    ours, theirs = read_store(path), read_store(other)
    return ours.keys() == theirs.keys() and all(
        np.array_equal(ours[k].values, theirs[k].values) and np.array_equal(ours[k].variances, theirs[k].variances)
        for k in ours)


def temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if ".tmp" in p.name]


def signal_while_writing(directory: Path, *arguments, outputs: tuple[Path, ...],
                         signum: signal.Signals = signal.SIGKILL) -> bool:
    """Run the command and send it ``signum`` as soon as a temporary output appears; whether it
    was caught writing (no output renamed yet when the signal ended it). ``outputs`` are removed
    first, as snakemake does before it starts a job."""
    for output in outputs:
        output.unlink(missing_ok=True)
    child = snakehep(*arguments)
    while child.poll() is None and not temporaries(directory):
        time.sleep(0.0002)
    child.send_signal(signum)
    child.communicate(timeout=60)
    ended_by_signal = child.returncode in (-signum, 128 + signum)
    return ended_by_signal and not any(output.exists() for output in outputs)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory, default_config):
    directory = tmp_path_factory.mktemp("process")
    config = small_config(default_config, directory)
    demo_file(config, "ttbar")
    return write_config(directory / "config.yaml", config)


@pytest.fixture(scope="module")
def reference(analysis, tmp_path_factory):
    """An undisturbed selection and normalisation of the sample."""
    directory = tmp_path_factory.mktemp("reference")
    assert finished("select", "--config", analysis, "--sample", "ttbar", "-o", directory / "g.npz").returncode == 0
    merge = finished("merge-sample", "--config", analysis, "--sample", "ttbar", "--histograms",
                     directory / "ttbar.root", "--cutflow", directory / "ttbar.json", directory / "g.npz")
    assert merge.returncode == 0, merge.stderr
    return directory


def test_select_killed_while_writing_leaves_no_partial_result(analysis, reference, tmp_path):
    output = tmp_path / "group0.npz"
    arguments = ["select", "--config", analysis, "--sample", "ttbar", "-o", output]
    assert any(signal_while_writing(tmp_path, *arguments, outputs=(output,)) for _ in range(3))  # mid-write
    left = temporaries(tmp_path)
    assert left and all(p.name.startswith(".group0.npz.") for p in left)  # SIGKILL: no clean-up
    rerun = finished(*arguments)
    assert rerun.returncode == 0, rerun.stderr
    assert temporaries(tmp_path) == []  # the killed writer's leftovers are gone
    assert Partial.read(output).raw == Partial.read(reference / "g.npz").raw


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_select_terminated_while_writing_removes_its_temporary(analysis, reference, tmp_path, signum):
    """SIGTERM (what scancel and a stopping snakemake send) and SIGINT (Ctrl-C) unwind: the
    temporary is removed, also when the signal comes the moment it was made."""
    output = tmp_path / "group0.npz"
    arguments = ["select", "--config", analysis, "--sample", "ttbar", "-o", output]
    assert any(signal_while_writing(tmp_path, *arguments, outputs=(output,), signum=signum)
               for _ in range(3))
    assert temporaries(tmp_path) == []
    assert finished(*arguments).returncode == 0
    assert Partial.read(output).raw == Partial.read(reference / "g.npz").raw


def test_merge_killed_while_writing_leaves_no_histograms_or_cutflow(analysis, reference, tmp_path):
    arguments = ["merge-sample", "--config", analysis, "--sample", "ttbar", "--histograms",
                 tmp_path / "ttbar.root", "--cutflow", tmp_path / "ttbar.json", reference / "g.npz"]
    outputs = (tmp_path / "ttbar.root", tmp_path / "ttbar.json")
    assert any(signal_while_writing(tmp_path, *arguments, outputs=outputs) for _ in range(3))
    assert not (tmp_path / "ttbar.root").exists() and not (tmp_path / "ttbar.json").exists()
    assert finished(*arguments).returncode == 0
    assert same_histograms(tmp_path / "ttbar.root", reference / "ttbar.root")
    assert (tmp_path / "ttbar.json").read_text() == (reference / "ttbar.json").read_text()


def limit_file_size(size: int):
    """In the child: writes beyond ``size`` bytes fail with EFBIG (Python ignores SIGXFSZ)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_file_size_limit_during_the_write_is_an_error_naming_the_output(analysis, reference, tmp_path):
    output = tmp_path / "group0.npz"
    size = (reference / "g.npz").stat().st_size
    limited = finished("select", "--config", analysis, "--sample", "ttbar", "-o", output,
                       preexec_fn=limit_file_size(size // 2))
    assert limited.returncode == 2
    assert f"snakehep select: error: cannot write {output}: [Errno 27] File too large" in limited.stderr
    assert list(tmp_path.iterdir()) == []
    assert finished("select", "--config", analysis, "--sample", "ttbar", "-o", output).returncode == 0
    assert Partial.read(output).raw == Partial.read(reference / "g.npz").raw


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 512 kB (needs the right to mount: root)."""
    system_programs.require(root="it mounts a tmpfs of 512 kB to fill it")
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        system_programs.unavailable(f"{system_programs.PREFIX}a tmpfs, which cannot be mounted here: "
                                    f"{result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_during_the_write_is_an_error_naming_the_output(analysis, reference, small_disk):
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (512 * 1024 - 4 * 4096))  # 16 kB left
    output = small_disk / "results" / "ttbar.root"
    arguments = ["merge-sample", "--config", analysis, "--sample", "ttbar", "--histograms", output,
                 "--cutflow", small_disk / "results" / "ttbar.json", reference / "g.npz"]
    full = finished(*arguments)
    assert full.returncode == 2
    assert f"snakehep merge-sample: error: cannot write {output}: [Errno 28] No space left on device" in full.stderr
    assert list((small_disk / "results").iterdir()) == []
    ballast.unlink()
    assert finished(*arguments).returncode == 0
    assert same_histograms(output, reference / "ttbar.root")
