"""Tests for ferrepro.evaluation.efficiency: FLOPs vs hand formulas, parameter counts, latency, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ferrepro.evaluation import efficiency
from ferrepro.evaluation.efficiency import (
    count_flops,
    count_parameters,
    efficiency_report,
    measure_latency,
    measure_paper,
    model_entries,
)


def test_linear_flops_match_hand_formula():
    batch, d_in, d_out = 4, 10, 5
    result = count_flops(nn.Linear(d_in, d_out), torch.rand(batch, d_in))
    assert result["flops"] == 2 * batch * d_in * d_out  # one multiply-add = 2 FLOPs; bias not counted
    assert result["macs"] == batch * d_in * d_out
    assert result["flops_per_sample"] == 2 * d_in * d_out
    assert "2 FLOPs per multiply-add" in result["note"]


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0)])
def test_conv2d_flops_match_hand_formula(stride, padding):
    batch, c_in, c_out, k, size = 2, 3, 8, 3, 16
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    out_size = (size + 2 * padding - k) // stride + 1
    result = count_flops(conv, torch.rand(batch, c_in, size, size))
    assert result["flops"] == 2 * batch * c_out * out_size * out_size * c_in * k * k


def test_flops_of_two_input_model_and_training_flag_restored():
    class Fusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.image = nn.Linear(12, 4)
            self.features = nn.Linear(6, 4)

        def forward(self, x, f):
            return self.image(x.flatten(1)) + self.features(f)

    model = Fusion().train()
    result = count_flops(model, (torch.rand(1, 3, 2, 2), torch.rand(1, 6)))
    assert result["flops"] == 2 * (12 * 4 + 6 * 4)
    assert model.training


def test_parameter_count_of_small_module():
    linear, conv = nn.Linear(10, 5), nn.Conv2d(3, 8, 3)
    conv.weight.requires_grad_(False)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), linear, linear)  # shared layer counted once
    counts = count_parameters(model)
    assert counts["total"] == (10 * 5 + 5) + (8 * 3 * 3 * 3 + 8)
    assert counts["trainable"] == counts["total"] - 8 * 3 * 3 * 3


def test_latency_returns_positive_times_and_requested_runs():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    model(torch.rand(1, 1, 12, 12))  # materialise the lazy layer
    threads_before = torch.get_num_threads()
    result = measure_latency(model, torch.rand(1, 1, 12, 12), batch_sizes=(1, 4), n_runs=3, warmup=1, threads=1)
    assert result["threads"] == 1
    assert torch.get_num_threads() == threads_before
    assert result["device"] == "cpu" and result["device_name"]
    assert [r["batch_size"] for r in result["results"]] == [1, 4]
    for row in result["results"]:
        assert row["n_runs"] == 3 and len(row["times_ms"]) == 3
        assert all(t > 0 for t in row["times_ms"])
        assert 0 < row["p10_ms"] <= row["median_ms"] <= row["p90_ms"]
        assert row["median_ms_per_sample"] == pytest.approx(row["median_ms"] / row["batch_size"])


def test_latency_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_runs"):
        measure_latency(nn.Identity(), torch.rand(1, 3), n_runs=0)
    with pytest.raises(ValueError, match="batch_sizes"):
        measure_latency(nn.Identity(), torch.rand(1, 3), batch_sizes=(0,))


class TinyFusion(nn.Module):
    def __init__(self, in_channels=1, input_size=8, num_classes=3, feature_dim=5):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2, 3, padding=1)
        self.head = nn.Linear(2 * input_size * input_size + feature_dim, num_classes)

    def forward(self, x, f):
        return self.head(torch.cat([self.conv(x).flatten(1), f], dim=1))


def test_efficiency_report_is_json_ready_and_uses_batch_one_flops():
    report = efficiency_report(TinyFusion, (1, 8, 8), feature_dim=5, batch_sizes=(1, 2), n_runs=2, warmup=0)
    json.dumps(report, allow_nan=False)
    conv_flops = 2 * 2 * 8 * 8 * 1 * 9
    head_flops = 2 * (2 * 64 + 5) * 3
    assert report["flops"]["batch_size"] == 1
    assert report["flops"]["flops"] == conv_flops + head_flops
    assert report["parameters"]["total"] == (2 * 9 + 2) + (133 * 3 + 3)


def test_cli_builds_registered_model_and_writes_json(tmp_path, monkeypatch):
    from ferrepro import models

    seen_kwargs = {}

    def factory(**kwargs):
        seen_kwargs.update(kwargs)
        return TinyFusion(**kwargs)

    monkeypatch.setitem(models.MODELS.entries, "test.tiny_fusion", factory)
    out = tmp_path / "eff" / "tiny.json"
    argv = [
        "--model",
        "test.tiny_fusion",
        "--model-kwargs-json",
        '{"num_classes": 3}',
        "--input-shape",
        "1",
        "8",
        "8",
        "--feature-dim",
        "5",
        "--batch-sizes",
        "1",
        "--n-runs",
        "2",
        "--warmup",
        "0",
        "--out",
        str(out),
    ]
    assert efficiency.cli(argv) == 0
    report = json.loads(out.read_text())
    assert report["model"] == "test.tiny_fusion"
    assert seen_kwargs == {"num_classes": 3, "in_channels": 1, "input_size": 8}
    assert report["latency"]["results"][0]["n_runs"] == 2

    with pytest.raises(SystemExit, match="contradict"):
        efficiency.cli(argv[:3] + ['{"in_channels": 3}'] + argv[4:])


# --------------------------------------------------------------- per paper, at the paper's own input size

from pathlib import Path  # noqa: E402

from ferrepro.config import load_config  # noqa: E402
from ferrepro.config.model_specs import full_preset_model_specs  # noqa: E402
from ferrepro.data.registry import load_registry  # noqa: E402
from ferrepro.features import hog, landmarks  # noqa: E402
from ferrepro.reporting.efficiency_table import efficiency_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def main_config():
    return load_config(REPO / "config" / "config.yaml")


@pytest.fixture(scope="module")
def registry():
    return load_registry(REPO / "config" / "datasets.yaml")


def test_models_are_measured_at_the_full_preset_size_whatever_the_active_preset(main_config, registry):
    config = dict(main_config, preset="quick")  # quick shrinks abdeldayem2025's input to 64 px
    entries = model_entries(full_preset_model_specs(config, "abdeldayem2025", REPO), registry)
    [full] = [e for e in entries if "full" in e["experiments"]]
    assert full["input_shape"] == [3, 224, 224] and full["num_classes"] == 7 and full["claimed"]
    assert full["model_kwargs"]["pretrained_weights"] is None  # timing needs no ImageNet checkpoint
    ckplus = [e for e in entries if any(x.startswith("full_ckplus") for x in e["experiments"])]
    assert ckplus and all(e["num_classes"] == 7 for e in ckplus)  # CK+'s own 7 classes (contempt, no neutral)


def test_input_channels_and_fused_feature_width_follow_the_run(main_config, registry):
    gilanie = model_entries(full_preset_model_specs(main_config, "gilanie2025", REPO), registry)
    channels = {tuple(e["input_shape"]) for e in gilanie}
    assert (4, 512, 512) in channels and (1, 512, 512) in channels  # IRGB and single-channel readings
    nauman = model_entries(full_preset_model_specs(main_config, "nauman2025", REPO), registry)
    [iafen] = [e for e in nauman if "cnn_swhog_lmk_hog_1000pc" in e["experiments"]]
    features = main_config["features"]
    expected = (
        hog.feature_dim(48, 48, hog.params_from_dict(hog.SlidingHogParams, features["sliding_hog"]))
        + landmarks.feature_dim(landmarks.params_from_dict(features["landmarks"]))
        + hog.feature_dim(48, 48, hog.params_from_dict(hog.HogParams, features["hog"]))
    )
    assert iafen["feature_dim"] == expected


def test_measure_paper_counts_and_times_each_network_once(main_config, registry):
    entries = model_entries(full_preset_model_specs(main_config, "majeed2025", REPO), registry)
    report = measure_paper("majeed2025", entries, threads=1, cpu_runs=3, cpu_warmup=1, gpu=False)
    from ferrepro.models import build_model

    for entry in report["models"].values():
        model = build_model(entry["model"], num_classes=7, in_channels=1, input_size=48)
        assert entry["parameters"]["total"] == sum(p.numel() for p in model.parameters())
        assert entry["flops"]["gmacs"] == pytest.approx(entry["flops"]["gflops"] / 2)
        assert [r["batch_size"] for r in entry["latency_cpu"]["results"]] == [1, 32]
        assert entry["latency_cpu"]["threads"] == 1 and entry["latency_gpu"] is None
    assert report["experiments"]["proposed"]["fer2013"] in report["models"]
    table = efficiency_table([report], {})
    assert len(table) == len(entries) and table["threads"].eq(1).all()
    json.dumps(report)  # JSON-ready


def test_latency_is_shared_by_networks_of_one_factory_and_size(registry):
    specs = {
        "paper": "demo",
        "features": {},
        "claimed": ["b"],
        "runs": [
            {
                "model": "majeed2025.lenet5",
                "model_kwargs": {},
                "input": {"size": 48, "channels": "gray"},
                "label_set": "basic7",
                "preprocess": None,
                "features": None,
                "experiment": "a",
                "dataset": "fer2013",
            },
            {
                "model": "majeed2025.lenet5",
                "model_kwargs": {},
                "input": {"size": 48, "channels": "gray"},
                "label_set": "basic6",
                "preprocess": None,
                "features": None,
                "experiment": "b",
                "dataset": "fer2013",
            },
        ],
    }
    entries = model_entries(specs, registry)
    assert len(entries) == 2  # 7 vs 6 classes: two networks
    report = measure_paper("demo", entries, threads=1, cpu_runs=2, cpu_warmup=0, gpu=False)
    first, second = report["models"]["m0"], report["models"]["m1"]
    assert second["latency_measured_on"] == "m1"  # the claimed experiment is timed on its own network
    assert first["latency_measured_on"] == "m1" and first["parameters"] != second["parameters"]


def _demo_specs(experiment: str = "a") -> dict:
    run = {
        "model": "majeed2025.lenet5",
        "model_kwargs": {},
        "input": {"size": 48, "channels": "gray"},
        "label_set": "basic7",
        "preprocess": None,
        "features": None,
        "experiment": experiment,
        "dataset": "fer2013",
    }
    return {"paper": "demo", "features": {}, "claimed": [], "runs": [run]}


def test_one_command_measures_a_paper_from_its_specs(tmp_path, capsys):
    out = tmp_path / "efficiency" / "demo.json"
    argv = ["--specs-json", json.dumps(_demo_specs()), "--threads", "1", "--n-runs", "2", "--out", str(out)]
    assert efficiency.cli(argv) == 0
    report = json.loads(out.read_text())
    assert report["paper"] == "demo" and report["protocol"]["cpu_runs"] == 2 and report["threads"] == 1
    assert report["experiments"] == {"a": {"fer2013": "m0"}}
    assert "demo majeed2025.lenet5 [1, 48, 48]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--warmup", "0"], "--warmup goes with --model, not --specs-json"),
        (["--input-shape", "1", "8", "8"], "--input-shape goes with --model, not --specs-json"),
    ],
)
def test_an_option_of_the_other_way_is_refused(tmp_path, capsys, extra, message):
    argv = ["--specs-json", json.dumps(_demo_specs()), "--out", str(tmp_path / "x.json"), *extra]
    with pytest.raises(SystemExit):
        efficiency.cli(argv)
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        efficiency.cli(["--model", "majeed2025.lenet5", "--registry", "r.yaml", "--out", str(tmp_path / "y.json")])
    assert "--registry goes with --specs-json, not --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        efficiency.cli(["--model", "majeed2025.lenet5", "--out", str(tmp_path / "y.json")])
    assert "--model needs --input-shape" in capsys.readouterr().err


def test_the_old_per_paper_command_name_points_to_the_one_command(capsys):
    from ferrepro.cli import main

    assert main(["efficiency-paper", "--specs-json", "{}"]) == 2
    assert "'efficiency-paper' is gone; run `ferrepro efficiency --specs-json" in capsys.readouterr().err
