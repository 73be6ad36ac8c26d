"""Generated image sequences with exact ground truth, for tests, the demo and quick experiments.

    python -m training generate --kind outdoor --out data/synthetic_outdoor
    python -m training generate --kind indoor --out data/synthetic_indoor --sequences 2 --frames 200

Scenes are procedural and ray cast analytically (numpy + OpenCV only, deterministic from the
seed): outdoors a street seen from a car driving forward ~0.6-1 m per frame with a slight yaw,
plus the right camera 0.54 m to the right; indoors a furnished room seen from a slowly moving,
panning hand-held Kinect. Textures are functions of world coordinates, so a surface looks the same
from every frame: exactly what the photometric loss assumes.

Modules, one role each:
    scene           the boxes and ground plane of a street or a room
    trajectories    camera paths through them
    textures        surface colour as a function of world position
    rendering       ray casting: RGB and depth from one camera pose
    odometry        noisy recorded odometry from a true path
    sequence_files  what every layout writes: images, poses, splits; ground-truth readers
    kitti           street drives in the KITTI raw layout (stereo, velodyne, odometry)
    nyu             room walk-throughs in the NYU layout
    cli             `python -m training generate` / `python -m training.synthetic`

The test split is held out: the last sequence (or, with one sequence, its last fifth); val is the
last tenth of each remaining sequence. Split targets skip the first and last frame of a sequence,
so frame offsets -1 and +1 always exist.
"""
