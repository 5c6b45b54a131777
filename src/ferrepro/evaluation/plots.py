"""Figures of one run: confusion matrix (counts and row-normalised) and learning curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # rules run headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def plot_confusion_matrix(cm: np.ndarray, classes: list[str], title: str, path: str | Path) -> None:
    """Counts and row-normalised values side by side, with class names; ``title`` names the run."""
    cm = np.asarray(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", xticklabels=classes, yticklabels=classes, ax=axes[0], cbar=False)
    sns.heatmap(normalised, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, xticklabels=classes,
                yticklabels=classes, ax=axes[1], cbar=False)
    # Counts show how much evidence each cell holds; the row-normalised view compares classes of
    # different sizes (its diagonal is per-class recall). A class with no test sample stays at 0.
    for ax, sub in zip(axes, (f"counts (n = {int(cm.sum())})", "row-normalised (recall per true class)")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
        ax.tick_params(axis="y", labelrotation=0)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curve(history: pd.DataFrame, selected_epoch: int, title: str, path: str | Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "acc")):
        for stage, style in (("train", "-"), ("val", "--")):
            col = f"{stage}_{metric}"
            if col in history:
                ax.plot(history["epoch"], history[col], style, marker="o", markersize=3, label=stage)
        ax.axvline(selected_epoch, color="tab:red", alpha=0.6, label=f"selected epoch {selected_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if metric == "acc" else "cross-entropy")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
