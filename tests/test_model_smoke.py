"""Smoke test of every registered model: build, forward a tiny batch, backward, finite gradients.

The cases come from the registry itself (``available_models``), so a newly registered model is tested
without touching this file; if it cannot be built at the small default size below, the failure says so
and the model gets its smallest valid kwargs in ``SMALLEST_KWARGS``.
"""

from __future__ import annotations

import pytest
import torch

from ferrepro.models import available_models, build_model, model_uses_features

NUM_CLASSES = 5  # not the usual 7, so that a head that ignores num_classes is caught
BATCH = 3  # BatchNorm in training mode needs more than one value per channel
DEFAULT_KWARGS = {"in_channels": 1, "input_size": 48}
# Models that cannot run at the default: the smallest input their module documents (fast on one core).
SMALLEST_KWARGS = {
    "abdeldayem2025.dcrnet": {"input_size": 64},  # DenseNet121 divides by 32, then a 2x2 max-pool
    "gilanie2025.cnn17": {"input_size": 125},  # five unpadded 5x5 stride-2 layers
}
# Variants whose forward takes another path than the registry default: fused handcrafted features.
VARIANTS = {
    "nauman2025.ia_fen+features": ("nauman2025.ia_fen", {"feature_dim": 12}),
    "abdeldayem2025.dcrnet+rgb": ("abdeldayem2025.dcrnet", {"input_size": 64, "in_channels": 3}),
}


def smoke_cases() -> dict[str, tuple[str, dict]]:
    cases = {name: (name, {**DEFAULT_KWARGS, **SMALLEST_KWARGS.get(name, {})}) for name in available_models()}
    cases.update({case: (name, {**DEFAULT_KWARGS, **kwargs}) for case, (name, kwargs) in VARIANTS.items()})
    return cases


CASES = smoke_cases()


def test_kwargs_tables_name_registered_models():
    registered = set(available_models())
    named = set(SMALLEST_KWARGS) | {name for name, _ in VARIANTS.values()}
    assert named <= registered, f"tests/test_model_smoke.py names unregistered models: {sorted(named - registered)}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_backward_gives_finite_gradients(case):
    name, kwargs = CASES[case]
    torch.manual_seed(0)
    model = build_model(name, num_classes=NUM_CLASSES, **kwargs).train()
    size = kwargs["input_size"]
    images = torch.randn(BATCH, kwargs["in_channels"], size, size)
    if model_uses_features(model):
        logits = model(images, torch.randn(BATCH, kwargs["feature_dim"]))
    else:
        logits = model(images)
    assert logits.shape == (BATCH, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.arange(BATCH) % NUM_CLASSES).backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, f"{name} has no trainable parameter"
    no_grad = sorted(n for n, p in trainable.items() if p.grad is None)
    assert not no_grad, f"{case}: trainable parameters outside the graph from input to logits: {no_grad}"
    not_finite = sorted(n for n, p in trainable.items() if not torch.isfinite(p.grad).all())
    assert not not_finite, f"{case}: non-finite gradients in {not_finite}"
