"""Diagnostic behind afzaal2025's learning rate (docs/papers/afzaal2025.md, "Why lr 3e-4"): how many of
the baseline's 128 dense ReLUs stay alive in the first steps on real FER2013, in our PyTorch port and,
optionally, in Keras itself (Keras 3 on the torch backend: Keras' own layers, initialisers and Adam).

Reads a workspace that has decoded FER2013 and written its spec files (e.g. after `snakemake -n --config
preset=paper_cpu 'run_datasets=[fer2013]'` and the decode rule). Only the training and validation splits
are read. Example:

    python bench/diagnostics/afzaal_dense_units.py --workspace . --lr 1e-3 --steps 600
    python bench/diagnostics/afzaal_dense_units.py --workspace . --lr 1e-3 --steps 600 --keras --no-augment

`--keras` needs `pip install keras` (3.x); it trains without augmentation (Keras has no port of ours).
A unit is alive when its output is positive on at least one image of a 64-image probe batch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

SPEC = "results/specs/afzaal2025/baseline_oversample/fer2013/seed0.json"


def torch_port(spec, dm, steps: int, augment: bool) -> dict:
    import lightning as L
    import torch

    from ferrepro.training.module import FERClassifier
    from ferrepro.training.run import _augmentation

    L.seed_everything(0)
    module = FERClassifier(spec, num_classes=len(dm.classes), in_channels=dm.in_channels)
    module.augment = _augmentation(spec) if augment else None
    relu = [m for m in module.model.classifier if isinstance(m, torch.nn.ReLU)][0]
    seen: dict = {}
    relu.register_forward_hook(lambda mod, i, o: seen.__setitem__("dense", o.detach()))
    alive: list = []

    class Probe(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, index):
            if index % 50 == 0:
                alive.append([index, int((seen["dense"] > 0).any(0).sum())])

    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=steps,
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[Probe()],
    )
    trainer.fit(module, datamodule=dm)
    return {"alive_dense_units": alive, **{k: round(float(v), 4) for k, v in trainer.callback_metrics.items()}}


def keras_itself(dm, lr: float, steps: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

    to_nhwc = lambda x: np.asarray(x).transpose(0, 2, 3, 1).astype("float32")  # noqa: E731
    xt, yt = to_nhwc(dm.arrays["train"].x), np.asarray(dm.arrays["train"].y)
    xv, yv = to_nhwc(dm.arrays["val"].x), np.asarray(dm.arrays["val"].y)
    keras.utils.set_random_seed(0)
    inputs = keras.Input(xt.shape[1:])
    h = inputs
    for channels in (32, 64, 128):  # the baseline of §4.1, Keras layer defaults
        h = layers.MaxPooling2D(2)(layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(channels, 3)(h))))
    hidden = layers.Dense(128, activation="relu", name="hidden")(layers.Flatten()(h))
    model = keras.Model(inputs, layers.Dense(7, activation="softmax")(layers.Dropout(0.5)(hidden)))
    probe = keras.Model(inputs, hidden)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    order = np.random.default_rng(0).permutation(len(yt))
    alive = []
    for start in range(0, steps, 50):
        rows = order[start * 64 : (start + 50) * 64]
        model.fit(xt[rows], yt[rows], batch_size=64, epochs=1, verbose=0, shuffle=False)
        alive.append([start + 50, int((np.asarray(probe.predict(xt[order[:64]], verbose=0)) > 0).any(0).sum())])
    val_loss, val_acc = model.evaluate(xv, yv, verbose=0)
    return {"alive_dense_units": alive, "val_loss": round(float(val_loss), 4), "val_acc": round(float(val_acc), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default=".", help="folder holding results/decoded/fer2013 and results/specs")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--init", help="override the spec's init (torch_default, keras_glorot)")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--keras", action="store_true", help="train Keras' own layers instead of our port")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the result as JSON here")
    a = parser.parse_args(argv)
    from dataclasses import replace

    import torch

    from ferrepro.config import load_spec_file
    from ferrepro.training.datamodule import FERDataModule

    torch.set_num_threads(a.threads)
    ws = Path(a.workspace)
    spec = load_spec_file(ws / SPEC)
    spec = spec.with_settings(optimizer=replace(spec.optimizer, lr=a.lr))
    if a.init:
        spec = spec.with_settings(init=a.init)
    dm = FERDataModule(
        spec, str(ws / "results/decoded/fer2013"), str(ws / "results/splits/fer2013/official_seed0.csv"), [], None
    )
    dm.setup("fit")
    result = keras_itself(dm, a.lr, a.steps) if a.keras else torch_port(spec, dm, a.steps, not a.no_augment)
    result = {
        "framework": "keras" if a.keras else "ferrepro (PyTorch)",
        "lr": a.lr,
        "steps": a.steps,
        "augment": not (a.no_augment or a.keras),
        "init": spec.init,
        **result,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
