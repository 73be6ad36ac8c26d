"""`make demo`: the robot workflow end to end, record -> train -> deploy, on generated data."""
