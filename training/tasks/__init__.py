"""What the trainer trains: a task module holding every network of one method and its objective.

The trainer only knows this interface (tasks.step, tasks.build), so self-supervised Monodepth2 and
the supervised NYUv2 models share one loop, one checkpoint format and one CLI.
"""
