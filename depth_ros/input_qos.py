"""A camera subscription whose reliability follows the camera's publishers, as rosbag2 does.

A best-effort subscription to raw megapixel images loses most of them: Fast DDS sends each
image as many UDP fragments, and best effort drops the whole image when one fragment is late.
A reliable subscription gets them all, but only from reliable publishers (a reliable reader
and a best-effort writer do not match). So, like rosbag2's adaptive QoS, the subscription is
made when the topic's publishers are known: reliable when every publisher is reliable, best
effort otherwise, and made again when the publishers change their mind. History is keep last
`depth` (a start-up override of qos_overrides.<topic>.subscription.depth/history still works).

A start-up parameter qos_overrides.<topic>.subscription.reliability turns the adaptation off:
the subscription is then made at once with that reliability, as rclpy's QoS overrides do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions

_NOT_GIVEN = "adaptive"  # placeholder value while probing for a user's reliability override


def subscription_reliability(publisher_reliabilities: list[ReliabilityPolicy]) -> (
    ReliabilityPolicy | None
):
    """Reliable when every publisher is reliable, best effort when any is not, None when there
    are no publishers to match."""
    if not publisher_reliabilities:
        return None
    if all(r == ReliabilityPolicy.RELIABLE for r in publisher_reliabilities):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def camera_qos(reliability: ReliabilityPolicy, depth: int = 5) -> QoSProfile:
    """Keep last `depth`, volatile, with the given reliability."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def reliability_override(node: Node, topic_name: str) -> str:
    """The user's start-up qos_overrides.<topic>.subscription.reliability, '' when not given.

    Found by declaring the parameter with a placeholder default (an override replaces it) and
    undeclaring it again, so that rclpy can declare it as usual when the subscription is made.
    """
    name = f"qos_overrides.{topic_name}.subscription.reliability"
    try:
        value: object = node.declare_parameter(name, _NOT_GIVEN).value
    except ParameterException as err:
        raise ValueError(
            f"parameter {name}: {err}; expected reliable, best_effort or system_default"
        ) from err
    node.undeclare_parameter(name)
    return "" if value == _NOT_GIVEN else str(value)


class AdaptiveSubscription:
    """The subscription to one camera topic; call `update()` periodically (it is cheap)."""

    def __init__(
        self,
        node: Node,
        message_type: type,
        topic: str,
        callback: Callable[[Any], None],
        depth: int = 5,
    ) -> None:
        self._node = node
        self._type = message_type
        self._callback = callback
        self._depth = depth
        self.topic_name = node.resolve_topic_name(topic)
        self.subscription: Any = None
        self.reliability: ReliabilityPolicy | None = None
        self.override = reliability_override(node, self.topic_name)
        if self.override:
            profile = camera_qos(ReliabilityPolicy.BEST_EFFORT, depth)
            self.subscription = node.create_subscription(
                message_type, topic, callback, profile,
                qos_overriding_options=QoSOverridingOptions.with_default_policies(),
            )  # fmt: skip
            self.reliability = profile.reliability
            node.get_logger().info(
                f"subscribed to {self.topic_name} with {self.describe()} QoS "
                f"(qos_overrides reliability {self.override})"
            )

    def describe(self) -> str:
        if self.reliability is None:
            return "no"
        return "reliable" if self.reliability == ReliabilityPolicy.RELIABLE else "best effort"

    def update(self) -> None:
        """Make or remake the subscription to match the publishers (a timer callback: rclpy's
        callbacks return nothing)."""
        if self.override:
            return
        publishers = self._node.get_publishers_info_by_topic(self.topic_name)
        wanted = subscription_reliability([info.qos_profile.reliability for info in publishers])
        if wanted is None or wanted == self.reliability:
            return  # no publisher (keep what we have: it may come back) or no change
        if self.subscription is not None:
            self._node.destroy_subscription(self.subscription)
        self.subscription = self._node.create_subscription(
            self._type, self.topic_name, self._callback, camera_qos(wanted, self._depth),
            qos_overriding_options=QoSOverridingOptions(
                [QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH]
            ),
        )  # fmt: skip
        self.reliability = wanted
        why = "every publisher is" if wanted == ReliabilityPolicy.RELIABLE else "a publisher is"
        self._node.get_logger().info(
            f"subscribed to {self.topic_name} with {self.describe()} QoS ({why} "
            f"{self.describe()}; {len(publishers)} publisher(s))"
        )
