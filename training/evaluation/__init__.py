"""Depth quality of a trained model on data with ground truth.

protocol (crops, depth caps, scaling, per-image scores; numpy only), predictors (PyTorch or ONNX
Runtime behind one interface), samples (a split's images with their ground truth), runner
(scores a model over samples) and report (table, JSON, CSV, PNG grid). The command line is
training/evaluate.py.
"""
