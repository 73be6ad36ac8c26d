"""Clean shutdown of the installed executable (what `ros2 run` and `ros2 launch` start).

Ctrl-C in a terminal running `ros2 launch` sends SIGINT to the whole process group, and launch
then forwards another SIGINT to the node; a service manager sends SIGTERM. Each must end the
node with exit status 0 and no traceback, also while frames are being processed. The node runs
in its own session (setsid), so its process group holds the node alone, as under launch.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sensor_msgs.msg import Image

from harness.colcon import install_environment, installed_executable
from harness.onnx_models import constant_depth_model
from harness.ros_link import RosHarness, image_message, send_until_received, stamp_of
from harness.scenes import FRAME_ID, node_parameters, plane_contract, random_rgb

pytestmark = pytest.mark.ros


def interrupt_group_twice(pid: int) -> None:
    os.killpg(pid, signal.SIGINT)  # the terminal's Ctrl-C, to the group
    time.sleep(0.05)
    os.killpg(pid, signal.SIGINT)  # launch forwarding it


def terminate(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize("send", [interrupt_group_twice, terminate], ids=["sigint", "sigterm"])
def test_signals_end_the_installed_node_with_status_0_and_no_traceback(
    colcon_install: Path, ros: RosHarness, start_node, tmp_path: Path, send
) -> None:
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    node = start_node(
        node_parameters(model),
        executable=["setsid", str(installed_executable(colcon_install))],
        extra_env=install_environment(colcon_install),
    )
    depth_rec = ros.record(Image, "depth/image_rect")
    image_pub = ros.publisher(Image, "image")
    ros.wait_for_subscribers(image_pub)
    image = image_message(random_rgb(1), "rgb8", FRAME_ID, stamp_of(1))
    send_until_received([(image_pub, image)], depth_rec, stamp_of(1))
    assert os.getpgid(node.pid) == node.pid  # its own group: killpg reaches the node alone

    streaming = threading.Event()

    def stream() -> None:  # frames keep coming while the signal lands
        index = 2
        while not streaming.is_set():
            image_pub.publish(image_message(random_rgb(index), "rgb8", FRAME_ID,
                                            stamp_of(index)))  # fmt: skip
            index += 1
            time.sleep(0.02)

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    time.sleep(0.5)
    send(node.pid)
    try:
        code = node.wait_exit(timeout=15.0)
    finally:
        streaming.set()
        streamer.join()
    log = node.log_text()
    assert code == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
