"""The thread rule: torch's intra-op threads follow the cores this process may use."""

from __future__ import annotations

import os

import pytest
import torch

from training.config import ConfigError, config_from_dict
from training.device import choose_cpu_threads, setup_runtime


def test_threads_share_the_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    threads, reason = choose_cpu_threads(0, loader_workers=3)
    assert threads == 5  # 16 cores / 2 processes - 3 workers
    assert "16 cores" in reason and "2 training processes" in reason and "3 loader" in reason
    assert choose_cpu_threads(0, loader_workers=12)[0] == 1  # never below one


def test_user_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_cpu_threads(0, loader_workers=0)[1] == "OMP_NUM_THREADS=3"
    assert choose_cpu_threads(7, loader_workers=0) == (7, "run.cpu_threads=7")


def test_setup_runtime_applies_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    cores = len(os.sched_getaffinity(0))
    try:
        runtime = setup_runtime(config_from_dict({"run": {"device": "cpu"}}).run,
                                loader_workers=cores)
        assert runtime.cpu_threads == torch.get_num_threads() == 1
        cfg = config_from_dict({"run": {"device": "cpu", "cpu_threads": 2}})
        assert setup_runtime(cfg.run).cpu_threads == torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match=r"run\.cpu_threads=-1"):
        config_from_dict({"run": {"cpu_threads": -1}})
