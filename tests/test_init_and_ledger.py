"""Framework-faithful initialisation, L2 on the convolutions only, and the reproduction ledger's merge."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from ferrepro.models import build_model
from ferrepro.models.init import KERAS_BN_EPS, KERAS_BN_MOMENTUM, apply_init
from ferrepro.reporting.ledger import KEY, VALUE_COLUMNS, LedgerError, merge, read_ledger
from ferrepro.runspec import LrSchedule, OptimizerSettings
from ferrepro.training.module import build_optimizer


def test_keras_glorot_draws_within_the_glorot_bound_with_zero_biases_and_keras_batchnorm():
    torch.manual_seed(0)
    model = apply_init(build_model("afzaal2025.baseline", num_classes=7, in_channels=1, input_size=64), "keras_glorot")
    conv = model.features[0][0]
    fan_in, fan_out = 1 * 3 * 3, 32 * 3 * 3
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(conv.bias) == 0
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == KERAS_BN_MOMENTUM and m.eps == KERAS_BN_EPS for m in norms)


def test_matlab_glorot_leaves_batchnorm_as_pytorch_builds_it_and_torch_default_changes_nothing():
    torch.manual_seed(0)
    model = build_model("afzaal2025.baseline", num_classes=7, in_channels=1, input_size=64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_init(model, "torch_default")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    apply_init(model, "matlab_glorot")
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert (bn.momentum, bn.eps) == (0.1, 1e-5)
    assert torch.count_nonzero(model.classifier[-1].bias) == 0


def test_pretrained_modules_are_never_reinitialised():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3))
    model.pretrained_prefixes = ("0",)
    kept = model[0].weight.clone()
    apply_init(model, "keras_glorot")
    assert torch.equal(model[0].weight, kept) and torch.count_nonzero(model[1].bias) == 0


def test_l2_goes_on_the_convolution_kernels_only():
    model = build_model("afzaal2025.optimized", num_classes=7, in_channels=1, input_size=64)
    groups = build_optimizer(model.parameters(), OptimizerSettings(name="adam", lr=1e-3), model).param_groups
    decayed = [p for g in groups if g["weight_decay"] > 0 for p in g["params"]]
    assert {id(p) for p in decayed} == {id(m.weight) for m in model.features.modules() if isinstance(m, nn.Conv2d)}
    assert groups[0]["weight_decay"] == model.l2_weight_decay == 2e-3
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_matlab_l2_skips_layer_biases_but_keeps_batchnorm():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    opt = OptimizerSettings(name="sgd", lr=0.01, weight_decay=1e-4, decay_biases=False)
    groups = build_optimizer(model.parameters(), opt, model).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] == 1e-4 for p in g["params"]}
    undecayed = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert undecayed == {id(model[0].bias), id(model[3].bias)}
    assert decayed == {id(model[0].weight), id(model[1].weight), id(model[1].bias), id(model[3].weight)}
    # Without the setting, every parameter is decayed (one group).
    (group,) = build_optimizer(model.parameters(), opt.without("decay_biases"), model).param_groups
    assert group["weight_decay"] == 1e-4 and len(group["params"]) == 6


def _row(**values):
    row = {k: "x" for k in KEY} | {"ours_mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "runs": "results/runs/a"}
    return row | values


def test_ledger_merge_keeps_every_row_and_adds_new_keys_once():
    old = pd.DataFrame([_row(experiment="a")])
    new = pd.DataFrame([_row(experiment="a"), _row(experiment="b")])
    merged = merge(old, new, KEY, VALUE_COLUMNS)
    assert sorted(merged["experiment"]) == ["a", "b"]
    assert len(merge(merged, new, KEY, VALUE_COLUMNS)) == 2


def test_ledger_refuses_a_changed_number_for_the_same_spec_naming_both():
    old = pd.DataFrame([_row(experiment="a", runs="results/runs/machine1")])
    new = pd.DataFrame([_row(experiment="a", ours_mean=0.55, runs="results/runs/machine2")])
    with pytest.raises(LedgerError, match=r"machine1.*machine2.*same spec"):
        merge(old, new, KEY, VALUE_COLUMNS)


def test_ledger_rows_recorded_under_the_old_profile_name_read_as_preset(tmp_path):
    command = "snakemake --cores all --config profile=paper_cpu 'run_datasets=[fer2013]' -- results/runs/a"
    path = tmp_path / "ledger.csv"
    pd.DataFrame([_row(profile="paper_cpu", command=command)]).to_csv(path, index=False)
    [row] = read_ledger(path).to_dict("records")
    assert "profile" not in row and row["preset"] == "paper_cpu"
    assert row["command"] == command.replace("--config profile=", "--config preset=")


@pytest.mark.parametrize("monitor,mode", [("val_acc", "max"), ("val_loss", "min"), (None, "min")])
def test_the_plateau_schedule_watches_the_configured_metric_in_its_direction(monitor, mode):
    from ferrepro.training.module import build_scheduler

    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    schedule = {"name": "plateau", "factor": 0.5, "patience": 3} | ({"monitor": monitor} if monitor else {})
    built = build_scheduler(optimizer, LrSchedule.from_dict(schedule, "test"))
    assert built["monitor"] == (monitor or "val_loss") and built["scheduler"].mode == mode
