"""The harness that tests, benches and the demo share: monodepth_node in its own process, the
DDS link that talks to it, and a colcon build of the package. Kept out of the ROS package
(setup.py installs depth_ros only) and free of test/ and demo/ imports, so it imports anywhere.
"""
