"""Fixtures of the ROS tests: a private ROS_DOMAIN_ID per test, the test's rclpy side, the node
in its own process, and a colcon build of the package (once per session, in a temp dir).

Every test here talks real DDS (Fast DDS, discovery limited to localhost). Domains are claimed
with a file lock in the temp dir (harness.node_process.claim_domain_id, which the demo and the
bench use too), so concurrent pytest runs on one machine never share one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.colcon import colcon_build
from harness.node_process import NodeProcess, claim_domain_id, localhost_discovery
from harness.ros_link import RosHarness


@pytest.fixture
def ros_domain_id() -> Iterator[int]:
    """A ROS_DOMAIN_ID held by this test alone (an exclusive flock per id)."""
    with claim_domain_id() as domain_id:
        yield domain_id


@pytest.fixture
def ros(ros_domain_id: int) -> Iterator[RosHarness]:
    """The test's publishers, recorders and parameter clients on the test's domain."""
    with localhost_discovery():
        harness = RosHarness(ros_domain_id)
        try:
            yield harness
        finally:
            harness.close()


@pytest.fixture
def start_node(ros_domain_id: int, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory: start_node(parameters, **NodeProcess options) -> a running node process on the
    test's domain. Nodes still running at the end of the test are stopped."""
    started: list[NodeProcess] = []

    def start(parameters: dict[str, Any], **options: Any) -> NodeProcess:
        node = NodeProcess(
            ros_domain_id, tmp_path / f"node{len(started)}", parameters, **options
        )
        started.append(node)
        return node

    yield start
    for node in started:
        if node.alive():
            node.stop()


@pytest.fixture(scope="session")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`colcon build` of a copy of the package (the repository stays clean); the install base.

    Built once per session: several tests look at the same install tree.
    """
    return colcon_build(tmp_path_factory.mktemp("colcon"))
