"""depth_ros: monocular depth for ROS 2; the runtime needs numpy, OpenCV, ONNX Runtime."""
