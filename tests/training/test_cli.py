"""The pit-lightning command line: fit from YAML, the sweep, and config errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pit_lightning.cli import main
from pit_lightning.nas import PITError
from pit_lightning.sweep import run_sweep
from pit_lightning.training import load_network
from training.helpers import CONFIGS, smoke_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

def test_fit_from_the_smoke_config_writes_the_run(tmp_path, chorale_cache):
    main(["fit", *smoke_args(tmp_path, chorale_cache)])
    run_dir = next((tmp_path / "lightning_logs").iterdir())
    arch = json.loads((run_dir / "arch.json").read_text())
    assert arch["phase"] == "finetune"
    assert {layer["name"] for layer in arch["layers"]} >= {"blocks.0.net.0", "output"}
    network = load_network(run_dir / "network.pt", trust=True)
    assert sum(p.numel() for p in network.parameters()) > 0
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["val/nll"].notna().any()
    assert (run_dir / "config.yaml").exists()


def test_sweep_writes_a_pareto_table_and_plot(tmp_path, chorale_cache):
    args = smoke_args(tmp_path, chorale_cache)
    table = run_sweep(args, strengths=[0.0, 5.0], out=tmp_path / "sweep")
    assert list(table["kind"]) == ["seed", "pit", "pit"]
    written = pd.read_csv(tmp_path / "sweep" / "pareto.csv")
    assert list(written.columns[:5]) == ["kind", "lambda", "params", "macs", "nll"]
    assert written["nll"].notna().all()
    # A strong lambda shrinks the network more than none at all.
    assert written["params"][2] < written["params"][1] <= written["params"][0]
    png = tmp_path / "sweep" / "pareto.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_config_key_is_named(tmp_path, chorale_cache, capsys):
    with pytest.raises(SystemExit):
        main(["fit", *smoke_args(tmp_path, chorale_cache), "--model.serach=[rf]"])
    assert "serach" in capsys.readouterr().err


def test_bad_search_option_is_named(tmp_path, chorale_cache):
    with pytest.raises(PITError, match=r"unknown search option\(s\) \['kernel'\]"):
        main(["fit", *smoke_args(tmp_path, chorale_cache), "--model.search=[kernel]"])


def test_negative_strength_is_refused(tmp_path, chorale_cache):
    with pytest.raises(ValueError, match="regularizer strength must be non-negative"):
        main(["fit", *smoke_args(tmp_path, chorale_cache), "--search.strength=-1"])


def test_missing_dataset_directory_says_what_to_download(tmp_path):
    args = ["fit", "--config", str(CONFIGS / "ppg_dalia.yaml"),
            f"--data.init_args.root={tmp_path / 'nowhere'}",
            f"--trainer.default_root_dir={tmp_path}",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.enable_progress_bar=false"]
    with pytest.raises(Exception, match="PPG-DaLiA") as info:
        main(args)
    assert "nowhere" in str(info.value)
