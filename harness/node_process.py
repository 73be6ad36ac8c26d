"""Start monodepth_node in its own process, as a robot would, and watch it from outside.

The node gets its parameters from a YAML params file written here, its own ROS_DOMAIN_ID, and
DDS discovery limited to this machine; its log (stdout + stderr) goes to a file the test reads.
Domain ids are claimed with a file lock (`claim_domain_id`), so tests, the demo and the bench
running at the same time on one machine never share one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOMAIN_IDS = range(20, 101)  # Fast DDS ports of domains above 101 collide with ephemeral ports
DOMAIN_LOCK_DIR = Path(tempfile.gettempdir()) / "depth_ros_test_domains"
DISCOVERY_VARIABLES = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")


@contextlib.contextmanager
def claim_domain_id(candidates: Sequence[int] = DOMAIN_IDS) -> Iterator[int]:
    """A ROS_DOMAIN_ID held by the caller alone while the block runs (an exclusive flock per
    id in the temp dir): concurrent test runs, demos and benches never talk to each other's
    nodes."""
    DOMAIN_LOCK_DIR.mkdir(exist_ok=True)
    shuffled = list(candidates)
    random.shuffle(shuffled)
    for domain_id in shuffled:
        lock = open(DOMAIN_LOCK_DIR / f"{domain_id}.lock", "w")  # noqa: SIM115 - held while used
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            yield domain_id
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
        return
    raise RuntimeError(f"all ROS domain ids {candidates} are taken by other runs")


def limit_discovery_to_localhost(env: MutableMapping[str, str]) -> None:
    """DDS discovery on this machine only, in `env` (a child's environment, or os.environ
    before this process's rclpy.init, which reads it)."""
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated since Jazzy; the range above replaces it


@contextlib.contextmanager
def localhost_discovery() -> Iterator[None]:
    """This process's rclpy contexts created in the block discover only on localhost, like the
    node processes; os.environ is restored afterwards."""
    saved = {name: os.environ.get(name) for name in DISCOVERY_VARIABLES}
    limit_discovery_to_localhost(os.environ)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ros_environment(domain_id: int) -> dict[str, str]:
    """The environment of a ROS process in the caller's private domain, talking only on
    localhost, logging unbuffered and without colour codes."""
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        RCUTILS_COLORIZED_OUTPUT="0",
        RCUTILS_LOGGING_BUFFERED_STREAM="0",
        PYTHONUNBUFFERED="1",
    )
    limit_discovery_to_localhost(env)
    return env


def write_params_file(path: Path, parameters: Mapping[str, Any]) -> Path:
    """A ROS 2 params file that applies `parameters` (dotted names allowed) to any node."""
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(parameters)}}))
    return path


class NodeProcess:
    """One running monodepth_node. Use `stop()` (SIGINT) and check its return code."""

    def __init__(
        self,
        domain_id: int,
        workdir: Path,
        parameters: Mapping[str, Any],
        *,
        executable: Sequence[str] | None = None,
        extra_params_files: Sequence[Path] = (),
        extra_env: Mapping[str, str] | None = None,
        ros_args: Sequence[str] = (),
    ) -> None:
        """`executable` defaults to `python -m depth_ros.node` from the repository; the
        packaging test passes the colcon-installed script instead. Params files apply in
        order, `parameters` last (so they override)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "node.log"
        params_file = write_params_file(workdir / "params.yaml", parameters)
        env = ros_environment(domain_id)
        if executable is None:
            executable = [sys.executable, "-m", "depth_ros.node"]
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])
            )
        env.update(extra_env or {})
        command = [*executable, "--ros-args"]
        for path in (*extra_params_files, params_file):
            command += ["--params-file", str(path)]
        command += list(ros_args)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mib(self) -> float:
        """Resident memory of the node process (MiB), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT (what Ctrl-C and `ros2 launch` send) and wait; kill if it hangs, and say so."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
        try:
            return self.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"monodepth_node ignored SIGINT for {timeout} s; log:\n{self.log_text()}"
            ) from None

    def wait_for_log(self, text: str, timeout: float) -> str:
        """Wait until `text` appears in the log; return the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log_text()
            if text in log:
                return log
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the node log after {timeout} s:\n{self.log_text()}")
