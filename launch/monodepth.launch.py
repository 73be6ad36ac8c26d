"""Start the monocular depth node (and optionally RViz2) on a camera stream.

    ros2 launch depth_ros monodepth.launch.py model:=/path/model.onnx image:=/camera/image_raw
    ros2 launch depth_ros monodepth.launch.py model:=/path/nyu.onnx \
        params_file:=$(ros2 pkg prefix depth_ros)/share/depth_ros/config/monodepth_indoor.yaml \
        image:=/camera/color/image_raw camera_info:=/camera/color/camera_info rviz:=true \
        fixed_frame:=camera_color_optical_frame

The node's relative topics `image`, `image/compressed` and `camera_info` are remapped to the
`image` / `camera_info` arguments; its outputs `depth/image_rect`, `depth/camera_info`,
`depth/points`, `depth/scan` and `depth/colorized` live in `namespace`. RViz2 (with
`rviz:=true`; not a dependency of the package: install ros-$ROS_DISTRO-rviz2 where there is a
screen) starts in the same namespace with the same `image` remapping, so its relative topics
show this node's input and outputs; its fixed frame is the camera's optical frame
(`fixed_frame`, the frame_id of the input images), which needs no TF: every display is in that
one frame.
"""

# `launch` is the ROS package, not this repository's launch/ folder (ruff assumes the latter).
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "depth_ros"


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    model = LaunchConfiguration("model")
    image = LaunchConfiguration("image")
    camera_info = LaunchConfiguration("camera_info")
    params_file = LaunchConfiguration("params_file")
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    rviz = LaunchConfiguration("rviz")
    fixed_frame = LaunchConfiguration("fixed_frame")

    arguments = [
        DeclareLaunchArgument("model", description="Path of the exported ONNX depth model."),
        DeclareLaunchArgument(
            "image", default_value="image", description="Input sensor_msgs/Image topic."
        ),
        DeclareLaunchArgument(
            "camera_info",
            default_value="camera_info",
            description="sensor_msgs/CameraInfo of the input camera (needed for the cloud).",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "monodepth.yaml"]),
            description="Node parameters (monodepth.yaml outdoor, monodepth_indoor.yaml indoor).",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="Namespace of the node and its outputs."
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="Use /clock (bag replay)."
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="Start RViz2 with rviz/monodepth.rviz."
        ),
        DeclareLaunchArgument(
            "fixed_frame",
            default_value="camera_optical_frame",
            description="RViz fixed frame: the frame_id of the input images.",
        ),
    ]

    depth_node = Node(
        package=PACKAGE,
        executable="monodepth_node",
        name="monodepth",
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[
            params_file,
            {
                "model": ParameterValue(model, value_type=str),
                "use_sim_time": ParameterValue(use_sim_time, value_type=bool),
            },
        ],
        remappings=[
            ("image", image),
            ("image/compressed", [image, "/compressed"]),
            ("camera_info", camera_info),
        ],
    )

    rviz_node = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        output="log",
        arguments=[
            "-d",
            PathJoinSubstitution([share, "rviz", "monodepth.rviz"]),
            "-f",
            fixed_frame,
        ],
        parameters=[{"use_sim_time": ParameterValue(use_sim_time, value_type=bool)}],
        remappings=[("image", image)],
        condition=IfCondition(rviz),
    )

    return LaunchDescription([*arguments, depth_node, rviz_node])
