"""BoardService on the host build of the firmware: a table from nothing, costs, a measure."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from pit_lightning.cost.geometry import LayerSpace
from pit_lightning.hardware import BoardService, calibration_inputs

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


def test_measure_starts_the_table_and_predicts_beside_the_board(tmp_path):
    service = BoardService(board="host", table=str(tmp_path / "t.csv"), repeats=1)
    network = nn.Sequential(nn.ConstantPad1d((2, 0), 0.0), nn.Conv1d(4, 8, 3), nn.ReLU()).eval()
    calib = calibration_inputs([torch.randn(4, 4, 20), torch.randn(4, 4, 20)], length=16)
    assert calib.shape == (8, 4, 16)
    # No table yet: the service starts one and measures what the network needs.
    measured = service.measure(network, calib)
    assert measured["measured_latency_s"] > 0 and measured["predicted_latency_s"] > 0
    assert (tmp_path / "t.csv").is_file()


def test_profile_then_costs_cover_the_search_space(tmp_path):
    service = BoardService(board="host", table=str(tmp_path / "t.csv"), channel_step=4,
                           repeats=1)
    spaces = [LayerSpace("a", 4, 8, 3, (1, 2), 16, True, False, True)]
    try:
        service.profile(spaces)
    finally:
        service.close()
    costs = service.load_costs(spaces, measure=False)  # raises when anything is missing
    assert set(costs) == {"latency", "energy"}


def test_a_table_of_older_firmware_is_kept_aside_and_profiled_afresh(tmp_path):
    path = tmp_path / "t.csv"
    service = BoardService(board="host", table=str(path), repeats=1)
    network = nn.Sequential(nn.Conv1d(4, 8, 1), nn.ReLU()).eval()
    calib = torch.randn(4, 4, 16)
    service.measure(network, calib)
    # The same table as an older firmware would have written it.
    text = path.read_text()
    version = service.open().table_meta().firmware_version
    service.close()
    path.write_text(text.replace(f'"firmware_version": "{version}"',
                                 '"firmware_version": "0.9"', 1))
    fresh = BoardService(board="host", table=str(path), repeats=1)
    assert fresh.measure(network, calib)["measured_latency_s"] > 0
    kept = tmp_path / "t.host-firmware-0.9.csv"
    assert '"firmware_version": "0.9"' in kept.read_text()
    assert f'"firmware_version": "{version}"' in path.read_text()
