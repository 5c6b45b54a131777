"""Train one run (paper, experiment, dataset, seed) with Lightning, from its resolved spec.

Outputs, in the run folder:

- ``model.pt``: the selected checkpoint's weights plus the spec and class list, in the plain format of
  ``ferrepro.models.checkpoint`` (it loads without running pickled code);
- ``history.csv``: per-epoch train/val loss and accuracy (Lightning's CSVLogger);
- ``train_summary.json``: selected epoch, epochs run, wall time, throughput, device, versions.

Model selection uses the validation split only (``checkpoint_monitor``); early stopping watches
``early_stopping.monitor``. The test split is never touched here: the evaluate rule scores it once.

Resume: the working folder ``.training/`` keeps Lightning's ``last.ckpt`` after every epoch, next to
the digest of the spec that wrote it. A rerun after a kill resumes from it when the digest matches
(model, optimiser, schedule, early-stopping state and every random generator are restored, so the
result equals an uninterrupted run's); when the spec changed it starts afresh and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from ferrepro.models.checkpoint import MODEL_FILE, read_training_checkpoint, save_model_file
from ferrepro.runspec import RunSpec

HISTORY_FILE = "history.csv"
SUMMARY_FILE = "train_summary.json"


def _set_threads(spec: RunSpec) -> None:
    import torch

    if spec.trainer.threads:
        torch.set_num_threads(int(spec.trainer.threads))


WORK_DIR = ".training"
DIGEST_FILE = "spec_digest.txt"
LAST_CHECKPOINT = "last.ckpt"


def resume_checkpoint(work: Path, digest: str) -> tuple[Path | None, str]:
    """The checkpoint to resume from (or None) and a sentence saying why, for the train log."""
    last = work / "checkpoints" / LAST_CHECKPOINT
    recorded = (work / DIGEST_FILE).read_text().strip() if (work / DIGEST_FILE).exists() else None
    if not last.exists():
        return None, "no checkpoint of an interrupted training: starting from epoch 1"
    if recorded != digest:
        return None, (
            f"the interrupted training in {work} was for spec {recorded or '(unknown)'}, this run's spec "
            f"is {digest}: starting afresh from epoch 1"
        )
    return last, f"resuming the interrupted training from {last} (same spec {digest})"


def _is_rank_zero() -> bool:
    # Lightning sets these in the processes it launches for ranks > 0 (before any Trainer exists there).
    return all(os.environ.get(v, "0") == "0" for v in ("LOCAL_RANK", "NODE_RANK"))


def _class_weights(datamodule, spec: RunSpec) -> list[float] | None:
    if not spec.class_weights:
        return None
    from ferrepro.training.balance import class_weights  # w_i = N / (C * n_i), issue 4

    return [float(w) for w in class_weights(datamodule.arrays["train"].y, len(datamodule.classes))]


def _augmentation(spec: RunSpec):
    policy = spec.augmentation
    if policy in (None, "none"):
        return None
    from ferrepro.training.augment import build_augmentation

    return build_augmentation(policy)


def build_trainer(spec: RunSpec, workdir: Path, callbacks: list, logger, max_epochs: int | None = None):
    import lightning as L

    from ferrepro.training.progress import quiet_lightning, show_progress_bar

    quiet_lightning()  # Lightning's repeated tips and a deprecation in its own code (training.progress)

    t = spec.trainer
    return L.Trainer(
        max_epochs=max_epochs or spec.max_epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=t.deterministic,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(workdir),
        enable_progress_bar=show_progress_bar(),  # Lightning's bar on a terminal only (training.progress)
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )


def with_feature_dim(spec: RunSpec, feature_dim: int) -> RunSpec:
    """Record the fused feature width in the model's kwargs, so evaluation rebuilds the same model."""
    if not spec.features:
        return spec
    return spec.with_settings(model_kwargs={**spec.model_kwargs, "feature_dim": feature_dim})


def train_run(
    spec: RunSpec,
    decoded_dir: str | Path,
    split_csv: str | Path,
    out_dir: str | Path,
    feature_files: list[str] | None = None,
    landmarks_points: str | None = None,
    extra_callbacks: list | None = None,
) -> dict:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from ferrepro.training.datamodule import FERDataModule
    from ferrepro.training.module import FERClassifier
    from ferrepro.training.progress import LOG_DIR, EpochProgress, extra_loggers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    digest = spec.digest()
    _set_threads(spec)
    L.seed_everything(spec.seed, workers=True)

    dm = FERDataModule(
        spec, str(decoded_dir), str(split_csv), _check_feature_files(spec, feature_files), landmarks_points
    )
    dm.setup("fit")
    spec = with_feature_dim(spec, dm.feature_dim)
    module = FERClassifier(
        spec, num_classes=len(dm.classes), in_channels=dm.in_channels, class_weights=_class_weights(dm, spec)
    )
    module.augment = _augmentation(spec)
    if spec.trainer.channels_last:
        module = module.to(memory_format=torch.channels_last)

    monitor = spec.checkpoint_monitor
    es = spec.early_stopping
    # One working folder for every process: with several devices (DDP) Lightning re-launches this
    # command once per rank, and all ranks must agree on where the checkpoint and the log live.
    work = out / WORK_DIR
    resume_from, why = resume_checkpoint(work, digest)
    if _is_rank_zero():
        print(f"ferrepro train: {why}", flush=True)
        if resume_from is None:
            shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    (work / DIGEST_FILE).write_text(digest + "\n")
    checkpoint = ModelCheckpoint(
        dirpath=work / "checkpoints",
        filename="best",
        monitor=monitor,
        mode="max" if monitor.endswith("acc") else "min",
        save_top_k=1,
    )
    # The resume point, rewritten after every epoch (save_last on the selection checkpoint would only be
    # written when the monitored value improves).
    latest = ModelCheckpoint(
        dirpath=work / "checkpoints",
        filename=LAST_CHECKPOINT.removesuffix(".ckpt"),
        monitor=None,
        save_top_k=1,
        enable_version_counter=False,
    )
    callbacks = [checkpoint, latest, EpochProgress(), *(extra_callbacks or [])]
    if es.patience is not None:
        callbacks.append(
            EarlyStopping(monitor=es.monitor, patience=es.patience, mode="max" if es.monitor.endswith("acc") else "min")
        )
    # Flushed at every log call, so that a killed training leaves the history of its finished epochs on
    # disk and a resumed one appends to it.
    logger = CSVLogger(save_dir=work, name="log", version=0, flush_logs_every_n_steps=1)
    trainer = build_trainer(spec, work, callbacks, [logger, *extra_loggers(work, "log", 0)])
    # Lightning's CSV logger starts its file afresh on a resume: keep the interrupted epochs' rows.
    metrics_csv = Path(logger.log_dir) / "metrics.csv"
    earlier = pd.read_csv(metrics_csv) if resume_from is not None and metrics_csv.exists() else None
    start = time.perf_counter()
    # Recorded before training: the code and data that the weights come from, even if files change meanwhile.
    provenance = training_provenance(spec, decoded_dir)
    # Epochs already done (1-based count) by the interrupted training; read before fit overwrites last.ckpt.
    resumed_from_epoch = int(read_training_checkpoint(resume_from)["epoch"]) + 1 if resume_from is not None else None
    # weights_only=False: the checkpoint is this training's own (see read_training_checkpoint).
    trainer.fit(module, datamodule=dm, ckpt_path=resume_from, weights_only=False)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        return {}  # rank 0 alone writes the run's outputs

    best = read_training_checkpoint(checkpoint.best_model_path)
    best_epoch = int(best["epoch"])
    state = {k.removeprefix("model."): v for k, v in best["state_dict"].items() if k.startswith("model.")}
    history = _epoch_history(metrics_csv, earlier)
    shutil.copytree(logger.log_dir, out / LOG_DIR, dirs_exist_ok=True)  # Lightning's CSV (+ TensorBoard) log
    shutil.rmtree(work, ignore_errors=True)

    save_model_file(out / MODEL_FILE, state, spec, digest, dm.classes, dm.in_channels)
    history.to_csv(out / HISTORY_FILE, index=False)
    epochs_run = int(trainer.current_epoch)
    n_train = len(dm.arrays["train"].y)
    summary = {
        "run": spec.run_name,
        "spec_digest": digest,
        "model": spec.model,
        "selected_epoch": best_epoch,
        "selection_metric": monitor,
        "selection_value": float(checkpoint.best_model_score),
        "selected_train_accuracy": _selected(history, best_epoch, "train_acc"),
        "resumed_from_epoch": resumed_from_epoch,
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < spec.max_epochs,
        "train_seconds": round(seconds, 2),
        "train_images_per_second": round(n_train * epochs_run / seconds, 1) if seconds > 0 else None,
        "n_train": n_train,
        "n_val": len(dm.arrays["val"].y),
        "n_test": len(dm.arrays["test"].y),
        "class_counts_train": dm.class_counts().tolist(),
        "features": list(spec.features),
        # Per split: rows left out for a missing feature value (as before), and rows kept with their missing
        # values filled from the training split (missing_features); the policy and fill are under
        # `missing_features`.
        "excluded_missing_features": {k: len(v.excluded) for k, v in dm.arrays.items()},
        "imputed_missing_features": {k: int(v.imputed.sum()) for k, v in dm.arrays.items()},
        "missing_features": dm.balance_report.get("missing_features"),
        "balance": dm.balance_report,
        "weights_source": getattr(module.model, "weights_source", "random"),
        "device": str(trainer.strategy.root_device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "provenance": provenance,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def training_provenance(spec: RunSpec, decoded_dir: str | Path) -> dict:
    """What the trained weights depend on besides the spec: code, data, software and machine."""
    import torch

    from ferrepro.data.standard import data_digest
    from ferrepro.provenance import code_version, machine, software_versions

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "code": code_version(),
        "data": {spec.dataset: data_digest(decoded_dir)},
        "seed": spec.seed,
        "software": software_versions(),
        "machine": machine(gpu),
    }


def _selected(history: pd.DataFrame, epoch: int, column: str) -> float | None:
    rows = history.loc[history["epoch"] == epoch, column] if column in history.columns else []
    return float(rows.iloc[0]) if len(rows) and pd.notna(rows.iloc[0]) else None


def _check_feature_files(spec: RunSpec, feature_files: list[str] | None) -> list[str]:
    """The files must be exactly the spec's features, in order (their columns are concatenated in that order)."""
    wanted = list(spec.features)
    files = list(feature_files or [])
    names = [Path(f).stem for f in files]
    if names != wanted:
        raise ValueError(f"the spec fuses features {wanted} but the feature files given are {files}")
    return files


def _epoch_history(metrics_csv: Path, earlier: pd.DataFrame | None = None) -> pd.DataFrame:
    """CSVLogger writes train and val metrics on separate rows; merge them into one row per epoch.

    An epoch logged by a training that was killed before its checkpoint, then logged again after the
    resume, appears twice: the later rows (those of the resumed training) win.
    """
    raw = (
        pd.concat([earlier, pd.read_csv(metrics_csv)], ignore_index=True)
        if earlier is not None
        else pd.read_csv(metrics_csv)
    )
    cols = [c for c in ("train_loss", "train_acc", "val_loss", "val_acc") if c in raw.columns]
    return raw.groupby("epoch", as_index=False)[cols].last()


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ferrepro train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec-file", help="the run's resolved spec, a JSON file (results/specs/...)")
    source.add_argument("--spec", help="the run's resolved spec as a JSON string")
    p.add_argument("--decoded", required=True, help="decoded dataset folder")
    p.add_argument("--split", required=True, help="split list CSV")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--features", nargs="*", default=[], help="cached feature arrays, in the spec's order")
    p.add_argument("--landmarks-points", nargs="?", help="landmarks_points.npy, for a landmark_emphasis step")
    a = p.parse_args(argv)
    from ferrepro.config import load_spec_file

    spec = load_spec_file(a.spec_file) if a.spec_file else RunSpec.from_dict(json.loads(a.spec), "--spec")
    summary = train_run(spec, a.decoded, a.split, a.out, a.features, a.landmarks_points)
    if summary:
        print(json.dumps(summary, indent=2))
    return 0
