"""`python -m training.synthetic ...`, the same as `python -m training generate ...`."""

import argparse
import sys

from training.synthetic.cli import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m training.synthetic",
                                 description="write a generated dataset with ground truth")
add_arguments(parser)
sys.exit(main(parser.parse_args()))
