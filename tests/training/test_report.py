"""What a run leaves a person to read: fit's closing test and summary, the report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from pit_lightning.cli import main
from pit_lightning.report import write_report
from training.helpers import smoke_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PARTS = ("## Summary", "## Pareto plot", "## Architecture", "## Latency on the board")


def test_fit_tests_the_best_checkpoint_and_prints_where_everything_is(
        tmp_path, chorale_cache, capfd, caplog):
    caplog.set_level(logging.INFO)
    main(["fit", *smoke_args(tmp_path, chorale_cache)])
    out = capfd.readouterr().out
    # One banner line per phase.
    for step, phase in enumerate(("warmup", "search", "finetune"), 1):
        assert caplog.text.count(f"PIT phase {step}/3: {phase},") == 1
    run = next((tmp_path / "lightning_logs").iterdir())
    arch = json.loads((run / "arch.json").read_text())
    # The best checkpoint is named, was tested, and its metrics are on record.
    assert arch["checkpoint"] == "best.ckpt" and (run / "best.ckpt").is_file()
    assert arch["test"]["test/nll"] > 0
    assert f"{arch['test']['test/nll']:.3f}" in out
    for line in (f"report: {run / 'report.md'}", f"network: {run / 'network.pt'}",
                 f"best checkpoint: {run / 'best.ckpt'}"):
        assert line in out
    report = (run / "report.md").read_text()
    assert all(part in report for part in PARTS)
    assert (run / "architecture.png").read_bytes()[:4] == b"\x89PNG"
    # The seed is recorded beside the found network, layer by layer.
    assert [layer["name"] for layer in arch["seed"]["layers"]] == \
        [layer["name"] for layer in arch["layers"]]

    # Testing the finished run again writes into its folder, not a new version.
    capfd.readouterr()
    main(["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "best.ckpt"),
          "--trainer.enable_progress_bar=false"])
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == [run.name]
    assert (run / "test").is_dir()
    again = json.loads((run / "arch.json").read_text())["test"]["test/nll"]
    assert again == pytest.approx(arch["test"]["test/nll"])


def test_no_test_skips_the_closing_test(tmp_path, chorale_cache, capsys):
    main(["fit", *smoke_args(tmp_path, chorale_cache), "--no-test"])
    run = next((tmp_path / "lightning_logs").iterdir())
    assert "test" not in json.loads((run / "arch.json").read_text())
    assert "report:" not in capsys.readouterr().out


def test_report_plots_latency_in_ms_and_names_every_part(tmp_path, monkeypatch):
    labels: list[str] = []
    save = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        labels.extend(ax.get_xlabel() for ax in fig.axes)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    layer = {"name": "conv", "in_channels": 4, "out_channels": 8, "kernel_size": 3,
             "dilation": 1, "receptive_field": 3, "length": 16, "bias": True}
    table = pd.DataFrame([
        {"kind": "seed", "lambda": None, "params": 1000, "macs": 9000, "latency_s": 2e-3,
         "acc": 0.90},
        {"kind": "pit", "lambda": 0.5, "params": 400, "macs": 3000, "latency_s": 1e-3,
         "acc": 0.91},
        {"kind": "hand", "label": "d=1,2,4", "params": 500, "macs": 4000,
         "latency_s": 1.5e-3, "acc": 0.89},
    ])
    timings = [{"name": "conv", "op": "conv", "measured_latency_s": 1e-3,
                "predicted_latency_s": 1.1e-3},
               {"name": "add", "op": "add", "measured_latency_s": 1e-4,
                "predicted_latency_s": None}]
    path = write_report(tmp_path, table, "acc", {"seed": [layer], "found": [layer]},
                        {"found": timings}, higher_is_better=True)
    text = path.read_text()
    assert all(part in text for part in PARTS)
    assert "latency ms" in text and "| PIT λ=0.5 |" in text
    assert "latency on the board (ms)" in labels
    # The figures the report links to exist.
    for name in ("pareto.png", "architecture.png", "latency_found.png"):
        assert f"]({name})" in text and (Path(tmp_path) / name).is_file()
