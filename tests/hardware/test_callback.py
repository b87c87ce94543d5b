"""HardwareInTheLoop on each emulated board within a smoke run."""

from __future__ import annotations

import json

import lightning as L
import pandas as pd
import pytest
import torch
from emulated_boards import EMULATED_BOARDS
from training.helpers import phases, tiny_data, tiny_module, trainer

from hw_profiler.table import ChannelGrid, LatencyTable
from pit_lightning.hardware import HardwareInTheLoop, enumerate_geometries

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("board", EMULATED_BOARDS)
def test_search_regularizes_measured_latency_and_the_run_ends_measured(
    tmp_path, chorale_cache, board
):
    table_path = tmp_path / "table.csv"
    hardware = HardwareInTheLoop(board=board, table=str(table_path), regularize="latency",
                                 deploy_every_n_epochs=1, repeats=1)
    module = tiny_module()
    spaces = module.pit.search_space()
    logger = L.pytorch.loggers.CSVLogger(tmp_path)
    run = trainer(tmp_path, [*phases(1, 2, 1, strength=100.0), hardware], logger=logger)
    run.fit(module, tiny_data(chorale_cache))

    # The table covers every geometry the search could reach.
    table = LatencyTable.load(table_path, board=board)
    reachable = enumerate_geometries(spaces, grid=ChannelGrid(8))
    assert not table.missing(reachable)
    # Each search epoch: a prediction and (every epoch here) a deployment beside it.
    assert [h["epoch"] for h in hardware.history] == [1, 2]
    for record in hardware.history:
        assert record["measured_latency_s"] > 0 and record["predicted_latency_s"] > 0
        assert record["latency_error"] < 0.05
    final = hardware.final
    assert final is not None and final["energy_source"] == "estimated"
    assert final["latency_error"] < 0.05
    saved = json.loads((tmp_path / "lightning_logs" / "version_0" / "hardware.json").read_text())
    layers = saved["final"].pop("layers")
    assert saved["final"] == pytest.approx({k: v for k, v in final.items() if k != "layers"})
    # Per board layer, adds included: measured beside the table's entry, summing to the
    # end-to-end figures.
    assert {layer["op"] for layer in layers} >= {"conv", "add"}
    assert sum(layer["predicted_latency_s"] for layer in layers) == pytest.approx(
        final["predicted_latency_s"])
    assert sum(layer["measured_latency_s"] for layer in layers) == pytest.approx(
        final["measured_latency_s"], rel=0.05)
    metrics = pd.read_csv(logger.log_dir + "/metrics.csv")
    for column in ("cost/latency", "hw/predicted_latency_s", "hw/measured_latency_s",
                   "hw/final_measured_latency_s", "hw/final_latency_error"):
        assert metrics[column].notna().any(), column
    # What the table predicts for the whole network minus the searchable layers' exact
    # cost (their residual adds included), at the last search epoch: nothing is left
    # outside this seed's searchable layers and adds.
    last = hardware.history[-1]
    searchable = metrics.dropna(subset=["arch/latency"]).groupby("epoch")["arch/latency"].last()
    assert module.cost_outside["latency"] == pytest.approx(0.0, abs=1e-12)
    assert searchable[last["epoch"]] + module.cost_outside["latency"] == pytest.approx(
        last["predicted_latency_s"], rel=1e-5)


def test_callback_arguments_are_checked():
    with pytest.raises(ValueError, match="regularize must be 'latency', 'energy' or None"):
        HardwareInTheLoop(regularize="macs")
    with pytest.raises(ValueError, match="deploy_every_n_epochs must be >= 1"):
        HardwareInTheLoop(deploy_every_n_epochs=0)


def test_the_prediction_is_made_once_per_architecture(tmp_path):
    """Most search epochs keep the architecture of the epoch before: no export and
    lowering again for them; a changed architecture is predicted afresh."""
    hardware = HardwareInTheLoop(table=str(tmp_path / "table.csv"))
    calls = []
    hardware.service.predict = lambda network, shape: (calls.append(network),
                                                       {"latency": float(len(calls))})[1]
    module = tiny_module()
    assert hardware._predict(module) == hardware._predict(module) == {"latency": 1.0}
    assert len(calls) == 1
    layer = next(la for _, la in module.pit.layers() if la.out_mask is not None)
    with torch.no_grad():
        layer.out_mask.alpha[0] = 0.0  # one channel fewer
    assert hardware._predict(module) == {"latency": 2.0} and len(calls) == 2
