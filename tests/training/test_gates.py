"""GateTrajectories writes every gate of every PIT epoch, in long format."""

from __future__ import annotations

import pandas as pd
import pytest

from pit_lightning.training import GateTrajectories

from .helpers import phases, tiny_data, tiny_module, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_gate_trajectories_cover_warmup_and_search(tmp_path, chorale_cache):
    module = tiny_module()
    run = trainer(tmp_path, [*phases(1, 2, 1, strength=5.0), GateTrajectories(str(tmp_path))])
    run.fit(module, tiny_data(chorale_cache))
    gates = pd.read_csv(tmp_path / "gates.csv")
    assert list(gates.columns) == ["epoch", "phase", "layer", "mask", "index", "value"]
    assert set(gates["phase"]) == {"warmup", "search"}  # fine-tune has no moving gates
    assert set(gates["mask"]) == {"gamma", "theta", "alpha_mean", "alpha_kept"}
    # Warmup holds every gate at "keep all"; the search moves them.
    warm = gates[(gates["phase"] == "warmup") & (gates["mask"] == "gamma")]
    assert (warm["value"] == 1.0).all()
    last = gates[(gates["epoch"] == gates["epoch"].max()) & (gates["mask"] == "gamma")]
    assert (last["value"] != 1.0).any()
    # One row per gate per epoch: a layer with seed kernel 5 has two dilation gates.
    layer = gates[(gates["layer"] == "blocks.1.net.0") & (gates["mask"] == "gamma")]
    assert sorted(layer.groupby("epoch").size().unique()) == [2]
