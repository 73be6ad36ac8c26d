"""Training, evaluation and export of depth networks; run as `python -m training COMMAND`."""
