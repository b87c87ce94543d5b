"""The hand-designed comparison's verdicts: which PIT points dominate a hand-designed
one, and which latencies the summary proposes to search at."""

from __future__ import annotations

import importlib.util
from argparse import Namespace
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pareto_vs_handdesigned.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("pareto_vs_handdesigned", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUMMARY = pd.DataFrame([
    {"kind": "hand", "setting": "c8", "latency_ms": 7.03, "accuracy": 0.640},
    {"kind": "hand", "setting": "c16", "latency_ms": 23.9, "accuracy": 0.653},
    {"kind": "pit-latency", "setting": "8", "latency_ms": 5.99, "accuracy": 0.600},
    {"kind": "pit-latency", "setting": "4", "latency_ms": 22.4, "accuracy": 0.699},
    {"kind": "pit-params", "setting": "8", "latency_ms": 7.00, "accuracy": 0.636},
])


def test_dominators_apply_the_tolerance_on_the_metric_only() -> None:
    bench = load_benchmark()
    beaten = bench.dominators(SUMMARY, "accuracy", True, 0.005, "latency_ms")
    # params-8 is faster and 0.004 less accurate: within the tolerance
    assert beaten == {"c8": ["pit-params 8"], "c16": ["pit-latency 4"]}
    strict = bench.dominators(SUMMARY, "accuracy", True, 0.001, "latency_ms")
    assert strict["c8"] == []
    # lower is better (NLL): the most accurate point becomes the worst
    assert bench.dominators(SUMMARY, "accuracy", False, 0.0, "latency_ms")["c16"] == [
        "pit-latency 8", "pit-params 8"]


def test_the_summary_proposes_only_latencies_not_yet_targeted() -> None:
    bench = load_benchmark()
    beaten = bench.dominators(SUMMARY, "accuracy", True, 0.001, "latency_ms")
    assert bench.untargeted_misses(SUMMARY, beaten, []) == [7.03]
    assert bench.untargeted_misses(SUMMARY, beaten, [7.0]) == []  # within 1%
    assert bench.untargeted_misses(SUMMARY, beaten, [6.5]) == [7.03]
    assert bench.untargeted_misses(SUMMARY, {}, []) == []


def test_a_target_pushes_with_the_sweeps_largest_strength_unless_told() -> None:
    bench = load_benchmark()
    assert bench.target_strength(Namespace(target_strength=None, strengths=[0.1, 4, 1])) == 4
    assert bench.target_strength(Namespace(target_strength=2.0, strengths=[0.1, 8])) == 2.0


def test_variants_regularize_their_cost_and_skip_per_epoch_checkpoints(tmp_path) -> None:
    benchmark = load_benchmark()
    base = {"model": {"cost": "params"}, "trainer": {"callbacks": []}}
    latency = benchmark.board_variant(base, "latency", tmp_path / "t.csv", "qemu_stm32f4")
    hardware = latency["trainer"]["callbacks"][0]["init_args"]
    assert hardware["regularize"] == "latency" and hardware["table"] == str(tmp_path / "t.csv")
    assert latency["model"]["cost"] == "params"  # replaced by the table when search starts
    assert latency["trainer"]["enable_checkpointing"] is False
    # A configured checkpoint callback is the user's: Lightning refuses it unchecked.
    checkpoint = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint"}
    kept = benchmark.board_variant({**base, "trainer": {"callbacks": [checkpoint]}},
                                   "params", tmp_path / "t.csv", None)
    assert "enable_checkpointing" not in kept["trainer"]
    assert kept["trainer"]["callbacks"] == [checkpoint] and base["trainer"]["callbacks"] == []
