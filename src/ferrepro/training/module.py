"""The LightningModule shared by every paper: model from the registry, optimiser and schedule from the spec."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from ferrepro.models import build_model
from ferrepro.training.inputs import normalize_batch


class InverseTimeDecay:
    """Keras' legacy ``SGD(decay=...)``: lr_t = lr / (1 + decay * iteration).

    A class rather than a lambda so the scheduler state stays picklable.
    """

    def __init__(self, decay: float):
        self.decay = decay

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.decay * step)


def build_optimizer(params, spec: dict, model: nn.Module) -> torch.optim.Optimizer:
    opt = spec["optimizer"]
    # Papers that put an L2 penalty on layers (Keras kernel_regularizer) expose it on the model;
    # we apply it as weight decay, which is the same thing for plain SGD and documented for Adam.
    weight_decay = opt.get("weight_decay", getattr(model, "l2_weight_decay", 0.0))
    if opt["name"] == "sgd":
        return torch.optim.SGD(params, lr=opt["lr"], momentum=opt.get("momentum", 0.0),
                               nesterov=opt.get("nesterov", False), weight_decay=weight_decay)
    if opt["name"] == "adam":
        return torch.optim.Adam(params, lr=opt["lr"], weight_decay=weight_decay)
    if opt["name"] == "adamw":
        return torch.optim.AdamW(params, lr=opt["lr"], weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {opt['name']!r}")


def build_scheduler(optimizer, spec: dict):
    sched = spec.get("lr_schedule") or {"name": "none"}
    name = sched["name"]
    if name == "none":
        return None
    if name == "inverse_time":
        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, InverseTimeDecay(sched.get("decay", 0.0))),
                "interval": "step"}
    if name == "plateau":
        return {"scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimizer, mode="min", factor=sched.get("factor", 0.5), patience=sched.get("patience", 3)),
                "monitor": "val_loss", "interval": "epoch"}
    if name == "step":
        return {"scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=sched["step_size"],
                                                             gamma=sched.get("factor", 0.1)), "interval": "epoch"}
    raise ValueError(f"unknown lr_schedule {name!r}")


class FERClassifier(L.LightningModule):
    def __init__(self, spec: dict, num_classes: int, in_channels: int, class_weights: list[float] | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.spec = spec
        self.model = build_model(spec["model"], num_classes=num_classes, in_channels=in_channels,
                                 input_size=spec["input"]["size"], **spec.get("model_kwargs", {}))
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.loss = nn.CrossEntropyLoss(weight=weight)
        self.normalize = spec["input"].get("normalize", "unit")
        self.augment = None  # set by the runner; applied to training batches only
        # Augmentation draws from its own generator seeded by the run seed: reproducible, and
        # independent of how many random numbers initialisation or dropout consumed.
        self.augment_generator = torch.Generator().manual_seed(int(spec.get("seed", 0)))

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x) if features is None else self.model(x, features)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Runs on the training device: augmentation (training batches only, on [0, 1] images), then
        # the input normalisation every split gets. Handcrafted features (if any) pass through untouched:
        # they were computed once, on the un-augmented image, and cached.
        x, *rest = batch
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x = self.augment(x, generator=self.augment_generator)
        return (normalize_batch(x, self.normalize), *rest)

    def _step(self, batch, stage: str):
        *inputs, y = batch
        logits = self(*inputs)
        loss = self.loss(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        # sync_dist: with several devices, selection and early stopping must see the whole validation set.
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=stage == "val", batch_size=len(y),
                 sync_dist=True)
        self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, prog_bar=stage == "val", batch_size=len(y),
                 sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), self.spec, self.model)
        scheduler = build_scheduler(optimizer, self.spec)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
