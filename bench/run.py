#!/usr/bin/env python
"""Benchmarks of the pipeline's spine; writes JSON (default bench/results/skeleton.json).

    python bench/run.py                 # training throughput (Lightning vs plain loop) + `snakemake -n` time
    python bench/run.py --reproduce     # also the wall time of the embedded default run in a temp copy
    python bench/run.py --reproduce --papers majeed2025   # the same, one paper only

Other benchmarks: bench/bench_decode.py (dataset decoding), bench/bench_features.py (HoG, landmarks,
augmentation). Never run these as timed tests: machine load makes wall times noisy; compare numbers
taken on the same machine and say how loaded it was (the JSON records the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))


def training_throughput(model_name: str, batch_size: int, epochs: int, threads: int) -> dict:
    """Images/s of the same model, batches and data through Lightning and through a plain loop.

    Both paths do the same work per step (normalisation, forward, cross-entropy, backward, SGD step, accuracy)
    on the same DataLoader; validation, checkpointing and logging to disk are off in both.
    """
    import lightning as L
    import torch

    from ferrepro.data.splits import make_split
    from ferrepro.data.standard import load_decoded
    from ferrepro.data.synthetic import SyntheticSpec, write_synthetic
    from ferrepro.runspec import RunSpec
    from ferrepro.training.datamodule import FERDataModule
    from ferrepro.training.inputs import normalize_batch
    from ferrepro.training.module import FERClassifier

    torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp())
    write_synthetic(SyntheticSpec(n_subjects=36, images_per_subject_per_class=6, size=48, seed=1234), tmp / "syn")
    make_split(load_decoded(tmp / "syn").samples, "subject", 0).to_csv(tmp / "split.csv", index=False)
    spec = RunSpec.from_dict(
        {
            "paper": "bench",
            "experiment": "throughput",
            "dataset": "synthetic",
            "seed": 0,
            "split": "subject",
            "model": model_name,
            "input": {"size": 48, "channels": "gray", "normalize": "per_image"},
            "optimizer": {"name": "sgd", "lr": 0.01},
            "lr_schedule": {"name": "none"},
            "batch_size": batch_size,
            "max_epochs": epochs,
        },
        "bench/run.py",
    )
    dm = FERDataModule(spec, str(tmp / "syn"), str(tmp / "split.csv"))
    dm.setup()
    n = len(dm.arrays["train"].y)

    def lightning_run() -> float:
        L.seed_everything(0)
        module = FERClassifier(spec, num_classes=7, in_channels=1)
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            deterministic=True,
        )
        start = time.perf_counter()
        trainer.fit(module, train_dataloaders=dm.train_dataloader())
        return n * epochs / (time.perf_counter() - start)

    def plain_run() -> float:
        L.seed_everything(0)
        module = FERClassifier(spec, num_classes=7, in_channels=1)
        optimizer = module.configure_optimizers()
        model, loss_fn = module.model.train(), module.loss
        start = time.perf_counter()
        for _ in range(epochs):
            correct = 0
            for x, y in dm.train_dataloader():
                optimizer.zero_grad(set_to_none=True)
                logits = model(normalize_batch(x, "per_image"))
                loss = loss_fn(logits, y)
                loss.backward()
                optimizer.step()
                correct += (logits.argmax(1) == y).sum().item()
        return n * epochs / (time.perf_counter() - start)

    # Alternate the two paths so slow drifts of machine load hit both equally.
    lightning, plain = [], []
    for _ in range(2):
        plain.append(plain_run())
        lightning.append(lightning_run())
    shutil.rmtree(tmp, ignore_errors=True)
    lt, pl = statistics.median(lightning), statistics.median(plain)
    return {
        "model": model_name,
        "batch_size": batch_size,
        "epochs": epochs,
        "n_train": n,
        "threads": threads,
        "lightning_images_per_s": round(lt, 1),
        "plain_images_per_s": round(pl, 1),
        "lightning_over_plain": round(lt / pl, 3),
        "repeats": {"lightning": lightning, "plain": plain},
    }


def dry_run_seconds(workdir: Path, repeats: int = 3, extra: list[str] | None = None) -> dict:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    times, last = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        last = subprocess.run(["snakemake", "-n", *(extra or [])], cwd=workdir, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    nothing = "Nothing to be done" in (last.stdout + last.stderr)
    return {
        "workdir": str(workdir),
        "median_s": round(statistics.median(times), 2),
        "runs": times,
        "workspace_finished": nothing,
    }


def job_seconds_by_rule(work: Path) -> dict:
    """Jobs, wall seconds and CPU seconds per rule, from the run's own `benchmark:` files."""
    import pandas as pd

    totals: dict[str, dict] = {}
    for tsv in sorted((work / "results" / "benchmarks").rglob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        t = totals.setdefault(
            tsv.relative_to(work / "results" / "benchmarks").parts[0], {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0}
        )
        t["jobs"] += 1
        t["wall_s"] = round(t["wall_s"] + float(row["s"]), 1)
        t["cpu_s"] = round(t["cpu_s"] + float(row.get("cpu_time", 0.0)), 1)
    return totals


def reproduce_seconds(papers: list[str] | None = None, max_epochs: int | None = None) -> dict:
    from conftest import copy_workflow

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    work = copy_workflow(Path(tempfile.mkdtemp()))
    command = ["snakemake", "--cores", "all"]
    if max_epochs:
        # The active preset's epoch cap, raised: enough training to see the synthetic data learned.
        (work / "bench_epochs.yaml").write_text(f"presets:\n  quick:\n    overrides:\n      max_epochs: {max_epochs}\n")
        command += ["--configfile", "config/config.yaml", "bench_epochs.yaml"]
    if papers:
        command += ["--config", f"papers=[{','.join(papers)}]"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = (work / "results" / "summary.csv").read_text() if proc.returncode == 0 else proc.stderr[-2000:]
    dry = dry_run_seconds(work, extra=command[3:]) if proc.returncode == 0 else None
    by_rule = job_seconds_by_rule(work)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "command": " ".join(command),
        "wall_s": round(seconds, 1),
        "returncode": proc.returncode,
        "jobs_by_rule": by_rule,
        "summary_csv": summary,
        "dry_run_on_finished_workspace": dry,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "skeleton.json"))
    p.add_argument("--reproduce", action="store_true", help="also time the embedded default run (minutes)")
    p.add_argument(
        "--papers",
        nargs="+",
        help="with --reproduce: run only these papers (e.g. majeed2025, the "
        "walking skeleton's one paper); default every paper of the config",
    )
    p.add_argument(
        "--max-epochs", type=int, help="with --reproduce: the quick preset's epoch cap (default: the config's)"
    )
    p.add_argument("--model", default="majeed2025.cnn")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    }
    result["training_throughput"] = training_throughput(a.model, a.batch_size, a.epochs, a.threads)
    result["snakemake_dry_run"] = dry_run_seconds(REPO)
    if a.reproduce:
        result["embedded_default"] = reproduce_seconds(a.papers, a.max_epochs)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
