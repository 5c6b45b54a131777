"""Tests for ferrepro.evaluation.efficiency: FLOPs vs hand formulas, parameter counts, latency, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ferrepro.evaluation import efficiency
from ferrepro.evaluation.efficiency import count_flops, count_parameters, efficiency_report, measure_latency


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

    monkeypatch.setitem(models.MODEL_REGISTRY, "test.tiny_fusion", factory)
    out = tmp_path / "eff" / "tiny.json"
    argv = ["--model", "test.tiny_fusion", "--model-kwargs-json", '{"num_classes": 3}', "--input-shape", "1", "8", "8",
            "--feature-dim", "5", "--batch-sizes", "1", "--n-runs", "2", "--warmup", "0", "--out", str(out)]
    assert efficiency.cli(argv) == 0
    report = json.loads(out.read_text())
    assert report["model"] == "test.tiny_fusion"
    assert seen_kwargs == {"num_classes": 3, "in_channels": 1, "input_size": 8}
    assert report["latency"]["results"][0]["n_runs"] == 2

    with pytest.raises(SystemExit, match="contradict"):
        efficiency.cli(argv[:3] + ['{"in_channels": 3}'] + argv[4:])
