"""The harness that tests, benches and the demo share: monodepth_node in its own process, the
DDS link that talks to it, a colcon build of the package, tiny ONNX models with analytic depth,
the scenes the tests show the node, and small camera and rosbag2 files.

Kept out of the ROS package (setup.py installs depth_ros only) and free of test/ and demo/
imports, so it imports anywhere, not only under pytest.
"""
