"""Real services for the tests, started once per test session: a Rucio server and an XRootD server.

Nothing here is a mock. The Rucio server is the `rucio` package from PyPI (SQLite, userpass) run by
gunicorn on 127.0.0.1, from its own virtual environment under the test cache (its dependencies must
not meet the analysis environment's). The XRootD server is Debian's `xrootd`, run in a private
network namespace that has only a loopback interface (xrootd listens on every interface and has no
bind-address option); `socat` relays 127.0.0.1:PORT of this namespace into it. The Debian packages
are those of tests/system-packages.txt (the README's test command installs them; a service whose
programs are missing skips its tests, see tests/system_programs.py); the virtual environment is
made here the first time and reused after.

Later services (Slurm, podman) belong in this module too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import system_programs

log = logging.getLogger(__name__)

RUCIO_SERVER_PACKAGES = ("rucio==41.5.1", "rucio-clients==41.5.1", "gunicorn==27.0.1")
RUCIO_ACCOUNT = "root"
RUCIO_USER = "snakehep"


class ServiceUnavailable(RuntimeError):
    """A component cannot be installed or started on this machine; the message says which."""


def cache_directory() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "snakehep-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise ServiceUnavailable(f"{what} did not come up within {timeout:.0f} s")


@contextlib.contextmanager
def running(service):
    """``service`` started, and stopped whatever happens (also when its start fails half-way)."""
    try:
        service.start()
        yield service
    finally:
        service.stop()


def stop_process(process: subprocess.Popen | None, *, timeout: float = 10.0) -> None:
    """Stop one process this module started (by its own handle, never by name)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


# --------------------------------------------------------------------------------------------- Rucio


def rucio_server_environment() -> Path:
    """The virtual environment holding the Rucio server, made on first use and reused after."""
    venv = cache_directory() / "rucio-server"
    marker = venv / ".snakehep-packages"
    wanted = "\n".join(RUCIO_SERVER_PACKAGES)
    if marker.exists() and marker.read_text() == wanted:
        return venv
    system_programs.require("ensurepip")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", *RUCIO_SERVER_PACKAGES],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise ServiceUnavailable(f"cannot install the Rucio server: {result.stderr[-2000:]}")
    marker.write_text(wanted)
    return venv


@dataclass
class RucioServer:
    """A real Rucio server on 127.0.0.1 with an SQLite database and a userpass identity."""

    directory: Path
    password: str = "grid-Secret-7f3a9"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def venv(self) -> Path:
        return cache_directory() / "rucio-server"

    def setup(self) -> None:
        venv = rucio_server_environment()
        self.directory.mkdir(parents=True, exist_ok=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        alembic = self.directory / "alembic.ini"
        database = f"sqlite:///{self.directory / 'rucio.db'}"
        alembic.write_text(textwrap.dedent(f"""\
            [alembic]
            script_location = {site}/rucio/db/sqla/migrate_repo/
            sqlalchemy.url = {database}
            [loggers]
            keys = root
            [handlers]
            keys = console
            [formatters]
            keys = generic
            [logger_root]
            level = WARN
            handlers = console
            [handler_console]
            class = StreamHandler
            args = (sys.stderr,)
            formatter = generic
            [formatter_generic]
            format = %%(levelname)s %%(message)s
            """))
        (self.directory / "logs").mkdir(exist_ok=True)
        self.server_config.write_text(textwrap.dedent(f"""\
            [common]
            logdir = {self.directory / 'logs'}
            loglevel = WARNING
            [database]
            default = {database}
            [alembic]
            cfg = {alembic}
            [bootstrap]
            userpass_identity = {RUCIO_USER}
            userpass_pwd = {self.password}
            userpass_email = {RUCIO_USER}@localhost
            [policy]
            permission = generic
            schema = generic
            lfn2pfn_algorithm_default = hash
            [api]
            endpoints = accounts, auth, config, dids, identities, ping, replicas, rses, rules, scopes
            """))
        subprocess.run(
            [str(venv / "bin" / "python"), str(venv / "rucio" / "tools" / "bootstrap.py")],
            env=self._environment(), check=True, capture_output=True,
        )

    @property
    def server_config(self) -> Path:
        return self.directory / "server.cfg"

    def _environment(self) -> dict[str, str]:
        return {**os.environ, "RUCIO_CONFIG": str(self.server_config)}

    def start(self) -> None:
        log_file = open(self.directory / "gunicorn.log", "ab")  # noqa: SIM115 (kept by the child)
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{self.port}",
             "--timeout", "120", "rucio.web.rest.flaskapi.v1.main:application"],
            env=self._environment(), stdout=log_file, stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        log_file.close()
        wait_until(self.answers, timeout=90, what=f"the Rucio server on {self.url}")

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log_tail = (self.directory / "gunicorn.log").read_text(errors="replace")[-3000:]
            raise ServiceUnavailable(f"the Rucio server exited:\n{log_tail}")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def client_config(self, path: Path, *, password: str | None = None) -> Path:
        """A Rucio client configuration (what RUCIO_CONFIG names) for this server."""
        path.write_text(textwrap.dedent(f"""\
            [client]
            rucio_host = {self.url}
            auth_host = {self.url}
            auth_type = userpass
            username = {RUCIO_USER}
            password = {password if password is not None else self.password}
            account = {RUCIO_ACCOUNT}
            request_retries = 1
            """))
        return path


# -------------------------------------------------------------------------------------------- XRootD


@dataclass
class XRootDServer:
    """Debian's xrootd serving ``export`` in a private network namespace, relayed to 127.0.0.1."""

    directory: Path
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def namespace(self) -> Path:
        return self.directory / "netns"

    @property
    def export(self) -> Path:
        return self.directory / "export"

    def url(self, path: str | Path) -> str:
        return f"root://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        system_programs.require("xrootd", "xrdfs", "socat", "unshare", "nsenter", "ip", "hostname",
                                root="xrootd runs as nobody in a network namespace of its own")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.export.mkdir(exist_ok=True)
        for sub in ("admin", "run"):
            (self.directory / sub).mkdir(exist_ok=True)
            shutil.chown(self.directory / sub, "nobody")
        shutil.chown(self.export, "nobody")
        self.namespace.touch()
        subprocess.run(["unshare", f"--net={self.namespace}", "true"], check=True, capture_output=True)
        self._in_namespace(["ip", "link", "set", "lo", "up"], check=True)
        config = self.directory / "xrootd.cfg"
        config.write_text(textwrap.dedent(f"""\
            xrd.port {self.port}
            all.export {self.export}
            all.adminpath {self.directory / 'admin'}
            all.pidpath {self.directory / 'run'}
            xrd.allow host localhost
            xrootd.chksum adler32
            """))
        log_file = open(self.directory / "xrootd.log", "ab")  # noqa: SIM115
        self.processes.append(subprocess.Popen(
            # its own host name "localhost" (a UTS namespace): xrootd stops when it cannot resolve
            # the host name, which a machine's /etc/hosts need not list (a chroot's does not)
            ["nsenter", f"--net={self.namespace}", "unshare", "--uts", "sh", "-c",
             f"hostname localhost && exec xrootd -R nobody -c {config}"],
            stdout=log_file, stderr=subprocess.STDOUT,
        ))
        relay = self.directory / "relay.sh"  # socat's EXEC address cannot hold the colons itself
        relay.write_text(f"#!/bin/sh\nexec nsenter --net={self.namespace} "
                         f"socat STDIO TCP:127.0.0.1:{self.port}\n")
        relay.chmod(0o755)
        self.processes.append(subprocess.Popen(
            ["socat", f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork",
             f"EXEC:{relay}"],
            stdout=log_file, stderr=subprocess.STDOUT,
        ))
        log_file.close()
        wait_until(self.answers, timeout=30, what=f"xrootd on 127.0.0.1:{self.port}")

    def _in_namespace(self, command: list[str], **options) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net={self.namespace}", *command],
                              capture_output=True, text=True, **options)

    def answers(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                tail = (self.directory / "xrootd.log").read_text(errors="replace")[-3000:]
                raise ServiceUnavailable(f"xrootd or its relay exited:\n{tail}")
        # through the relay, as every client will connect
        quick = {**os.environ, "XRD_CONNECTIONRETRY": "1", "XRD_CONNECTIONWINDOW": "2"}
        try:
            probe = subprocess.run(["xrdfs", f"127.0.0.1:{self.port}", "ls", str(self.export)],
                                   capture_output=True, timeout=10, env=quick)
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()
        if self.namespace.exists():
            subprocess.run(["umount", str(self.namespace)], capture_output=True)


# --------------------------------------------------------------------------------------------- Slurm

SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURMDBD_CONF = Path("/etc/slurm/slurmdbd.conf")
SLURM_MARKER = "# written by snakehep's test fixture (tests/services.py); removed when it stops"
CLUSTER_NAME = "snakehep-test"
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def spawn_logged(command: list[str], log: Path) -> subprocess.Popen:
    """``command`` started in the background, its output appended to ``log``."""
    with open(log, "ab") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


@dataclass
class SlurmAccounting:
    """Slurm's accounting as sites run it: MariaDB (Debian's mariadb-server) on 127.0.0.1 and
    slurmdbd in front of it, with the cluster, an account and root as its user registered.

    MariaDB's data directory is a private temporary directory the ``mysql`` user can enter
    (pytest's are 0700 under root's); slurmdbd's config must be /etc/slurm/slurmdbd.conf (mode
    0600: it holds the database password, random per run), written only if there is none."""

    directory: Path
    cluster: str
    database_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)
    wrote_config: bool = False
    data: Path | None = None

    def start(self) -> None:
        system_programs.require("mariadbd", "mariadb-install-db", "mariadb", "slurmdbd", "sacctmgr", "sacct",
                                root="slurmdbd and the database run as root and mysql")
        if SLURMDBD_CONF.exists() and SLURM_MARKER not in SLURMDBD_CONF.read_text(errors="replace"):
            raise ServiceUnavailable(f"{SLURMDBD_CONF} exists and is not the test fixture's")
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        password = os.urandom(12).hex()
        self._start_database(password)
        SLURMDBD_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURMDBD_CONF.touch(mode=0o600)
        SLURMDBD_CONF.chmod(0o600)
        self.wrote_config = True
        SLURMDBD_CONF.write_text(textwrap.dedent(f"""\
            {SLURM_MARKER}
            AuthType=auth/munge
            DbdHost=localhost
            DbdPort={self.port}
            SlurmUser=root
            StorageType=accounting_storage/mysql
            StorageHost=127.0.0.1
            StoragePort={self.database_port}
            StorageUser=slurm
            StoragePass={password}
            StorageLoc=slurm_acct_db
            LogFile={self.directory / 'logs' / 'slurmdbd.log'}
            PidFile={self.directory / 'slurmdbd.pid'}
            """))
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        wait_until(lambda: self.sacctmgr("-n", "list", "cluster").returncode == 0, timeout=60, what="slurmdbd")
        for command in (("add", "cluster", self.cluster), ("add", "account", "snakehep", f"Cluster={self.cluster}"),
                        ("add", "user", "root", "Account=snakehep", f"Cluster={self.cluster}")):
            result = self.sacctmgr("-i", *command)
            if result.returncode != 0 and "Nothing new added" not in result.stdout + result.stderr:
                raise ServiceUnavailable(f"sacctmgr {' '.join(command)} failed: {result.stdout}{result.stderr}")

    def slurm_settings(self) -> str:
        """The lines of slurm.conf that send the controller's records here; memory measured
        every second and a job over its --mem killed (no cgroups here: by the gatherer)."""
        return textwrap.dedent(f"""\
            AccountingStorageType=accounting_storage/slurmdbd
            AccountingStorageHost=localhost
            AccountingStoragePort={self.port}
            JobAcctGatherType=jobacct_gather/linux
            JobAcctGatherFrequency=1
            JobAcctGatherParams=OverMemoryKill
            """)

    def _start_database(self, password: str) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="snakehep-mariadb-"))
        self.data.chmod(0o755)
        shutil.chown(self.data, "mysql", "mysql")
        install = subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={self.data / 'db'}",
                                  "--auth-root-authentication-method=socket", "--skip-test-db"],
                                 capture_output=True, text=True, timeout=120)
        if install.returncode != 0:
            raise ServiceUnavailable(f"mariadb-install-db failed:\n{install.stdout}{install.stderr}")
        self._spawn("mariadbd", ["mariadbd", "--user=mysql", f"--datadir={self.data / 'db'}",
                                 f"--socket={self.socket}", f"--port={self.database_port}",
                                 "--bind-address=127.0.0.1", f"--pid-file={self.data / 'mariadbd.pid'}",
                                 "--innodb-buffer-pool-size=64M"])
        wait_until(lambda: self.sql("SELECT 1").returncode == 0, timeout=60, what="MariaDB")
        result = self.sql("CREATE DATABASE slurm_acct_db; "
                          f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                          f"CREATE USER 'slurm'@'localhost' IDENTIFIED BY '{password}'; "
                          "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; "
                          "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';")
        if result.returncode != 0:
            raise ServiceUnavailable(f"creating the accounting database failed: {result.stderr}")

    @property
    def socket(self) -> Path:
        return self.data / "mariadbd.sock"

    def sql(self, statement: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mariadb", f"--socket={self.socket}", "-u", "root", "-e", statement],
                              capture_output=True, text=True, timeout=30)

    def sacctmgr(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sacctmgr", *arguments], capture_output=True, text=True, timeout=30)

    def _spawn(self, name: str, command: list[str]) -> None:
        self.processes.append(spawn_logged(command, self.directory / "logs" / f"{name}.out"))

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process, timeout=30)
        self.processes.clear()
        if self.wrote_config and SLURMDBD_CONF.exists():
            SLURMDBD_CONF.unlink()
            self.wrote_config = False
        if self.data is not None:
            shutil.rmtree(self.data, ignore_errors=True)


@dataclass
class SlurmCluster:
    """Debian's slurm-wlm as a single-node cluster on localhost: munged, slurmctld and slurmd run
    in the foreground (no systemd, no cgroups), state and logs in ``directory``.

    The config must be /etc/slurm/slurm.conf: snakemake's slurm jobstep plugin strips the
    ``SLURM_*`` variables (``SLURM_CONF`` among them) before calling ``srun`` inside a job. The
    fixture writes that file only if there is none, and removes it when it stops. With
    ``accounting``, as sites run it: slurmdbd and MariaDB (:class:`SlurmAccounting`), and the
    executor plugin's default status command, ``sacct``, works; without, ``squeue`` is the status
    command (``MinJobAge`` keeps finished jobs visible to it).
    """

    directory: Path
    cpus: int = 2
    accounting: bool = False
    nodes: int = 1
    node_timeout: int = 300  # seconds without an answer before slurmctld declares a node down
    controller_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)
    wrote_config: bool = False
    database: SlurmAccounting | None = None

    def start(self) -> None:
        system_programs.require("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel",
                                "scontrol", "munged", "runuser",
                                root="the test cluster's daemons run as root and it writes /etc/slurm/slurm.conf")
        if SLURM_CONF.exists() and SLURM_MARKER not in SLURM_CONF.read_text(errors="replace"):
            raise ServiceUnavailable(f"{SLURM_CONF} exists and is not the test fixture's: "
                                     "not touching a real cluster's configuration")
        self.directory.mkdir(parents=True, exist_ok=True)
        for sub in ("state", "spool", "logs"):
            (self.directory / sub).mkdir(exist_ok=True)
        self._start_munge()
        if self.accounting:
            self.database = SlurmAccounting(self.directory / "accounting", CLUSTER_NAME)
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(self._config())
        self.wrote_config = True
        if self.database is not None:  # sacctmgr finds slurmdbd through slurm.conf
            self.database.start()
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        wait_until(lambda: self._run(["scontrol", "ping"]).returncode == 0, timeout=30,
                   what="slurmctld")
        for node in self.node_names:
            self.start_node(node)
        wait_until(lambda: self.node_state() == "idle", timeout=60, what="the Slurm nodes")

    @property
    def node_names(self) -> list[str]:
        """One node is ``localhost``; several are ``node1``, ``node2``, ... (each its own slurmd
        on 127.0.0.1 with its own port, which Debian's build allows)."""
        return ["localhost"] if self.nodes == 1 else [f"node{i}" for i in range(1, self.nodes + 1)]

    def start_node(self, node: str) -> None:
        (self.directory / "spool" / node).mkdir(parents=True, exist_ok=True)
        self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node])

    def _node_lines(self, memory: int) -> str:
        ports = [free_port() for _ in self.node_names]
        lines = [f"NodeName={node} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} "
                 f"CPUs={self.cpus} RealMemory={memory} State=UNKNOWN"
                 for node, port in zip(self.node_names, ports)]
        lines.append(f"PartitionName=debug Nodes={','.join(self.node_names)} Default=YES "
                     "MaxTime=INFINITE State=UP")
        return "\n".join(lines)

    def _config(self) -> str:
        memory = int(self._free_memory_mb() * 0.8) // self.nodes
        d = self.directory
        accounting = (self.database.slurm_settings() if self.database is not None else
                      "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none")
        return textwrap.dedent(f"""\
            {SLURM_MARKER}
            ClusterName={CLUSTER_NAME}
            SlurmctldHost=localhost(127.0.0.1)
            SlurmctldPort={self.controller_port}
            SlurmUser=root
            AuthType=auth/munge
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core_Memory
            MinJobAge=300
            SlurmdTimeout={self.node_timeout}
            ReturnToService=2
            StateSaveLocation={d / 'state'}
            SlurmdSpoolDir={d / 'spool' / '%n'}
            SlurmctldPidFile={d / 'slurmctld.pid'}
            SlurmdPidFile={d / 'slurmd-%n.pid'}
            SlurmctldLogFile={d / 'logs' / 'slurmctld.log'}
            SlurmdLogFile={d / 'logs' / 'slurmd-%n.log'}
            SlurmctldDebug=info
            """) + self._node_lines(memory) + "\n" + accounting.strip() + "\n"

    @staticmethod
    def _free_memory_mb() -> int:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
        return 2048

    def _start_munge(self) -> None:
        if self._munge_answers():
            return  # a munged already runs on this machine: use it, and leave it running
        for path, mode in ((Path("/run/munge"), 0o755), (Path("/var/lib/munge"), 0o700),
                           (Path("/var/log/munge"), 0o700)):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "munge", "munge")
            path.chmod(mode)
        self._spawn("munged", ["runuser", "-u", "munge", "--", "munged", "-F"])
        wait_until(self._munge_answers, timeout=15, what="munged")

    @staticmethod
    def _munge_answers() -> bool:
        if not MUNGE_SOCKET.exists() or shutil.which("munge") is None:
            return False
        credential = subprocess.run(["munge", "-n"], capture_output=True)
        if credential.returncode != 0:
            return False
        return subprocess.run(["unmunge"], input=credential.stdout, capture_output=True).returncode == 0

    def _spawn(self, name: str, command: list[str]) -> None:
        self.processes.append(spawn_logged(command, self.directory / "logs" / f"{name}.out"))

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        for process in self.processes:
            if process.poll() is not None:
                raise ServiceUnavailable(f"{process.args[0]} exited:\n{self.log_tail()}")
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    def restart_controller(self, *, down_seconds: float) -> None:
        """Stop slurmctld, leave it down ``down_seconds``, start it again from its saved state;
        the jobs on the node keep running meanwhile."""
        self.stop_controller()
        time.sleep(down_seconds)
        self.start_controller()

    def stop_controller(self) -> None:
        """Stop slurmctld (SIGTERM: it saves its state first)."""
        (controller,) = [p for p in self.processes if p.args[0] == "slurmctld"]
        stop_process(controller, timeout=30)
        self.processes.remove(controller)

    def start_controller(self) -> None:
        self._spawn("slurmctld", ["slurmctld", "-D"])
        wait_until(lambda: self._run(["scontrol", "ping"]).returncode == 0, timeout=60, what="slurmctld again")

    def lose_node(self, node: str) -> list[int]:
        """What a node crash does: its slurmd and every process of its jobs killed (SIGKILL);
        returns the ids of the jobs that ran there."""
        jobs = [int(job) for job, where in map(str.split, self._run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i %N"]).stdout.splitlines()) if where == node]
        (slurmd,) = [p for p in self.processes if p.args[-1] == node]
        slurmd.kill()
        slurmd.wait()
        self.processes.remove(slurmd)
        kill_processes_of_jobs(jobs)
        return jobs

    def start_requeued_jobs_now(self, jobs: list[int], *, avoiding: str | None = None) -> None:
        """Slurm holds a requeued job for about two minutes (its begin time) before it may start
        again; the tests lift that hold once the job is pending again. ``avoiding``: a node the
        jobs must not run on (one just back from a crash: slurmctld of Slurm 22.05 was seen to
        dump core when a job requeued from a node ran there again right after it returned)."""
        for job in jobs:
            wait_until(lambda: self._run(["squeue", "-h", "-j", str(job), "-o", "%T"]).stdout.strip()
                       in ("PENDING", ""), timeout=60, what=f"requeued job {job} pending")
            if self._run(["squeue", "-h", "-j", str(job), "-o", "%T"]).stdout.strip() != "PENDING":
                continue  # already gone
            excluded = [f"ExcNodeList={avoiding}"] if avoiding else []
            update = self._run(["scontrol", "update", f"JobId={job}", *excluded, "StartTime=now"])
            assert update.returncode == 0, f"scontrol update of job {job}: {update.stderr}"

    def wait_for(self, process: subprocess.Popen, *, timeout: float) -> None:
        """Wait for ``process`` (a snakemake run), failing at once with the daemons' logs if a
        Slurm daemon exits meanwhile (snakemake would wait for its jobs' states until killed)."""
        wait_until(lambda: self._run(["scontrol", "ping"]) and process.poll() is not None,
                   timeout=timeout, what="the snakemake run to end", interval=1.0)

    def node_states(self) -> dict[str, str]:
        lines = self._run(["sinfo", "-h", "-N", "-o", "%N %T"]).stdout.splitlines()
        return dict(line.split() for line in lines)

    def node_state(self) -> str:
        """The nodes' state (``idle``, ``mixed``, ...), one word if they all share it."""
        return " ".join(sorted(set(self.node_states().values())))

    def log_tail(self) -> str:
        tails = []
        for path in sorted((self.directory / "logs").glob("*")):
            tails.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(tails)

    def queued_jobs(self) -> list[str]:
        """Names of the jobs Slurm still has pending or running."""
        result = self._run(["squeue", "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING",
                            "-o", "%j"])
        return result.stdout.split()

    def allocated_job_ids(self) -> set[int]:
        """Every job the controller has started since it started (from its log: by the main
        scheduler or by backfill)."""
        text = (self.directory / "logs" / "slurmctld.log").read_text(errors="replace")
        pattern = r"(?:sched: Allocate|sched/backfill: _start_job: Started) JobId=(\d+)"
        return {int(match) for match in re.findall(pattern, text)}

    def stop(self) -> None:
        jobs = []
        if self.processes and all(p.poll() is None for p in self.processes):
            jobs = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                                  timeout=30).stdout.split()
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True)
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()
        if self.wrote_config and SLURM_CONF.exists():
            SLURM_CONF.unlink()
            self.wrote_config = False
        if self.database is not None:
            self.database.stop()
            self.database = None

    def requested_memory(self, jobs: list[int]) -> str:
        """sacct's ``JobIDRaw|ReqMem`` lines of ``jobs``."""
        return self._run(["sacct", "-n", "-X", "-P", "-j", ",".join(map(str, jobs)), "-o", "JobIDRaw,ReqMem"]).stdout

    def job_history(self, job: int) -> list[tuple[str, str]]:
        """Each run of ``job`` (a requeued job runs again under its id): state and node."""
        result = self._run(["sacct", "-n", "-X", "-P", "-D", "-j", str(job), "-o", "State,NodeList"])
        runs = [line.split("|") for line in result.stdout.splitlines()]
        return [(state.split()[0], node) for state, node in runs]

    def accounted_jobs(self) -> dict[int, str]:
        """Each job the accounting database holds (its id, without steps) and its state."""
        result = self._run(["sacct", "-n", "-X", "-P", "-a", "-S", "now-1days", "-o", "JobIDRaw,State"])
        jobs = {}
        for line in result.stdout.splitlines():
            job, _, state = line.partition("|")
            if job.isdigit():
                jobs[int(job)] = state.split()[0] if state else ""
        return jobs

    def jobs_per_node(self) -> dict[str, int]:
        """How many of the accounted jobs ran (their last run) on each node."""
        result = self._run(["sacct", "-n", "-X", "-P", "-a", "-S", "now-1days", "-o", "NodeList"])
        nodes = [line for line in result.stdout.splitlines() if line]
        return {node: nodes.count(node) for node in sorted(set(nodes))}


def kill_processes_of_jobs(jobs: list[int], *, timeout: float = 10.0) -> None:
    """SIGKILL every process of ``jobs`` on this host, scanning again until none is left: a
    process a job started between a scan and the kill of its parent would live on (a real
    crash leaves none), finish the job's work and race its requeued run."""
    deadline = time.monotonic() + timeout
    while pids := processes_of_jobs(jobs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {pids} of jobs {jobs} survive SIGKILL")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def processes_of_jobs(jobs: list[int]) -> list[int]:
    """Process ids of the Slurm jobs ``jobs`` on this host: their slurmstepd (named
    ``slurmstepd: [JOB.STEP]``) and whatever runs with ``SLURM_JOB_ID`` of one of them."""
    wanted = {str(job) for job in jobs}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environment = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        stepd = re.match(r"slurmstepd: \[(\d+)\.", command)
        job_ids = {entry.split(b"=", 1)[1].decode() for entry in environment
                   if entry.startswith(b"SLURM_JOB_ID=")}
        if (stepd and stepd.group(1) in wanted) or job_ids & wanted:
            found.append(int(proc.name))
    return found


# ----------------------------------------------------------------------------------------------- S3


@dataclass
class S3Server:
    """A local S3-compatible server: ``moto_server`` (PyPI package moto) on 127.0.0.1, in memory.

    Stands in for a site's object store where a test needs one (the Kubernetes profile's
    default storage provider); it is a real HTTP server speaking the S3 protocol.
    """

    directory: Path
    bucket: str = "snakehep-test"
    access_key: str = "snakehep-test-key"
    secret_key: str = "snakehep-test-secret"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        executable = shutil.which("moto_server")
        if executable is None:
            raise ServiceUnavailable("moto_server is not installed (the test extra has moto[server])")
        self.directory.mkdir(parents=True, exist_ok=True)
        log_file = open(self.directory / "moto.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        wait_until(self.answers, timeout=30, what=f"moto_server on {self.url}")
        self.client().create_bucket(Bucket=self.bucket)

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServiceUnavailable(f"moto_server exited: {(self.directory / 'moto.log').read_text()}")
        try:
            with urllib.request.urlopen(self.url, timeout=2):
                return True
        except OSError:
            return False

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
