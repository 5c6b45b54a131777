"""The LightningModule shared by every paper: model from the registry, optimiser and schedule from the spec."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch
from torch import nn

from ferrepro.models import build_model
from ferrepro.models.init import apply_init
from ferrepro.runspec import LrSchedule, OptimizerSettings, RunSpec
from ferrepro.training.inputs import normalize_batch


def _numpy_state() -> list:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, keys.copy(), pos, has_gauss, cached]


class InverseTimeDecay:
    """Keras' legacy ``SGD(decay=...)``: lr_t = lr / (1 + decay * iteration).

    A class rather than a lambda so the scheduler state stays picklable.
    """

    def __init__(self, decay: float):
        self.decay = decay

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.decay * step)


_BIASED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _without_layer_biases(params, decay: float, model: nn.Module) -> list[dict]:
    """MATLAB's L2: on weights, not on convolution/dense biases (BiasL2Factor 0); BatchNorm keeps it."""
    biases = {id(m.bias) for m in model.modules() if isinstance(m, _BIASED_LAYERS) and m.bias is not None}
    params = list(params)
    return [
        {"params": [p for p in params if id(p) not in biases], "weight_decay": decay},
        {"params": [p for p in params if id(p) in biases], "weight_decay": 0.0},
    ]


def _parameter_groups(params, opt: OptimizerSettings, model: nn.Module):
    """(parameters, weight decay) for the optimiser.

    An explicit ``optimizer.weight_decay`` applies to every parameter, or, with ``decay_biases: false``,
    to all but the convolution and dense biases (MATLAB's defaults). A model whose paper puts an L2
    penalty on some layers only (Keras ``kernel_regularizer=l2(...)`` on the convolutions) exposes
    ``l2_weight_decay`` and ``l2_parameters()``: those parameters get the decay in a group of their
    own, the others none. With Adam, PyTorch's coupled ``weight_decay`` is exactly Keras' loss term.
    """
    if opt.weight_decay is not None:
        if opt.decay_biases:
            return params, opt.weight_decay
        return _without_layer_biases(params, opt.weight_decay, model), 0.0
    decay = float(getattr(model, "l2_weight_decay", 0.0))
    if decay == 0.0 or not hasattr(model, "l2_parameters"):
        return params, decay
    penalised = {id(p) for p in model.l2_parameters()}
    params = list(params)
    return [
        {"params": [p for p in params if id(p) in penalised], "weight_decay": decay},
        {"params": [p for p in params if id(p) not in penalised], "weight_decay": 0.0},
    ], 0.0


def build_optimizer(params, opt: OptimizerSettings, model: nn.Module) -> torch.optim.Optimizer:
    params, weight_decay = _parameter_groups(params, opt, model)
    if opt.name == "sgd":
        return torch.optim.SGD(
            params, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov, weight_decay=weight_decay
        )
    if opt.name == "adam":
        return torch.optim.Adam(params, lr=opt.lr, weight_decay=weight_decay)
    if opt.name == "adamw":
        return torch.optim.AdamW(params, lr=opt.lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {opt.name!r}")


def build_scheduler(optimizer, sched: LrSchedule):
    if sched.name == "none":
        return None
    if sched.name == "inverse_time":
        return {
            "scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, InverseTimeDecay(sched.decay)),
            "interval": "step",
        }
    if sched.name == "plateau":
        # Keras/PyTorch semantics: an accuracy plateaus when it stops rising, a loss when it stops falling.
        return {
            "scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="max" if sched.monitor.endswith("acc") else "min",
                factor=sched.lr_factor,
                patience=sched.patience,
            ),
            "monitor": sched.monitor,
            "interval": "epoch",
        }
    if sched.name == "step":
        if sched.step_size is None:
            raise ValueError("lr_schedule step needs `step_size` (epochs between two decays)")
        return {
            "scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=sched.step_size, gamma=sched.lr_factor),
            "interval": "epoch",
        }
    raise ValueError(f"unknown lr_schedule {sched.name!r}")


class FERClassifier(L.LightningModule):
    def __init__(self, spec: RunSpec, num_classes: int, in_channels: int, class_weights: list[float] | None = None):
        super().__init__()
        # The spec as its JSON object: the logged hparams.yaml stays plain YAML.
        self.save_hyperparameters(
            {
                "spec": spec.to_dict(),
                "num_classes": num_classes,
                "in_channels": in_channels,
                "class_weights": class_weights,
            }
        )
        self.spec = spec
        self.model = build_model(
            spec.model,
            num_classes=num_classes,
            in_channels=in_channels,
            input_size=spec.input.size,
            **spec.model_kwargs,
        )
        # The paper's framework defaults (Keras/MATLAB Glorot...), drawn after Lightning's seeding.
        apply_init(self.model, spec.init)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.loss = nn.CrossEntropyLoss(weight=weight)
        self.normalize = spec.input.normalize
        self.augment = None  # set by the runner; applied to training batches only
        # Augmentation draws from its own generator seeded by the run seed: reproducible, and
        # independent of how many random numbers initialisation or dropout consumed.
        self.augment_generator = torch.Generator().manual_seed(int(spec.seed))

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x) if features is None else self.model(x, features)

    def _on_device(self, batch):
        # Runs on the training device: augmentation (training batches only, on [0, 1] images), then
        # the input normalisation every split gets. Handcrafted features (if any) pass through untouched:
        # they were computed once, on the un-augmented image, and cached. Called by the steps rather than
        # as Lightning's on_after_batch_transfer hook, which with a LightningDataModule warns in every run.
        x, *rest = batch
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x = self.augment(x, generator=self.augment_generator)
        return (normalize_batch(x, self.normalize), *rest)

    def _step(self, batch, stage: str):
        *inputs, y = self._on_device(batch)
        logits = self(*inputs)
        loss = self.loss(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        # sync_dist: with several devices, selection and early stopping must see the whole validation set.
        self.log(
            f"{stage}_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=stage == "val",
            batch_size=len(y),
            sync_dist=True,
        )
        self.log(
            f"{stage}_acc",
            acc,
            on_step=False,
            on_epoch=True,
            prog_bar=stage == "val",
            batch_size=len(y),
            sync_dist=True,
        )
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    # Lightning restores weights, optimiser, schedule and callbacks from a checkpoint, but not the random
    # generators: without these two hooks a resumed run would draw other dropout masks and augmentations.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["ferrepro_rng"] = {
            "torch": torch.get_rng_state(),
            "augment": self.augment_generator.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": _numpy_state(),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        rng = checkpoint.get("ferrepro_rng")
        if rng is None:
            return
        torch.set_rng_state(rng["torch"])
        self.augment_generator.set_state(rng["augment"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        np.random.set_state(tuple(rng["numpy"]))
        random.setstate(rng["python"])

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), self.spec.optimizer, self.model)
        scheduler = build_scheduler(optimizer, self.spec.lr_schedule)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
