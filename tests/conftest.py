"""Shared fixtures: real data from ../shared/data (skip if absent; fail in CI or with
NARSPEECH_REQUIRE_DATA=1), espeak-ng, GPU skip."""
from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("NARSPEECH_PROGRESS", "0")


@pytest.fixture(scope="session")
def shared_data():
    from narspeech.paths import data_required, shared_data_candidates, shared_data_dir

    d = shared_data_dir()
    if not d.is_dir():
        tried = ", ".join(map(str, shared_data_candidates()))
        msg = f"real data not found (tried {tried}); set NARSPEECH_SHARED_DATA to the shared/data folder"
        if data_required():  # CI must not lose the real-data evidence to a silent skip
            pytest.fail(msg + " (required: CI or NARSPEECH_REQUIRE_DATA is set)", pytrace=False)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def espeak():
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng not installed (tools/install.sh installs it)")
    return exe


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on 2-core shared machines threads fighting each other make tiny models ~5x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pytest_collection_modifyitems(config, items):
    if not any("gpu" in item.keywords for item in items):
        return  # no torch import (and no CUDA probe) when nothing asks for a GPU
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
