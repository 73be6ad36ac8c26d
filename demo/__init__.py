"""End-to-end demo of depth_ros and the tools that drive a running node over DDS."""
