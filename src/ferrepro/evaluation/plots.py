"""Figures: one run's confusion matrix (counts and row-normalised) and learning curves; the claims chart."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # rules run headless
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

NOT_AVAILABLE = "n/a"


def plot_confusion_matrix(cm: np.ndarray, classes: list[str], title: str, path: str | Path) -> None:
    """Counts and row-normalised values side by side, with class names; ``title`` names the run."""
    cm = np.asarray(cm)
    normalised, text = row_normalised(cm)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", xticklabels=classes, yticklabels=classes, ax=axes[0], cbar=False)
    sns.heatmap(
        np.nan_to_num(normalised),
        annot=text,
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=1,
        xticklabels=classes,
        yticklabels=classes,
        ax=axes[1],
        cbar=False,
    )
    # Counts show how much evidence each cell holds; the row-normalised view compares classes of
    # different sizes (its diagonal is per-class recall). A class with no test sample has no recall: n/a.
    for ax, sub in zip(axes, (f"counts (n = {int(cm.sum())})", "row-normalised (recall per true class)")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
        ax.tick_params(axis="y", labelrotation=0)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def row_normalised(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows divided by their totals (NaN for a class with no test sample) and the cell texts ("n/a" there)."""
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(totals > 0, cm / np.where(totals > 0, totals, 1), np.nan)
    text = np.where(np.isnan(normalised), NOT_AVAILABLE, np.char.mod("%.2f", np.nan_to_num(normalised)))
    return normalised, text


def plot_learning_curve(history: pd.DataFrame, selected_epoch: int, title: str, path: str | Path) -> None:
    fig = learning_curve_figure(history, selected_epoch, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_curve_figure(history: pd.DataFrame, selected_epoch: int, title: str):
    """Train and validation loss and accuracy per epoch, counted from 1 (as ``epochs_run``), with the
    selected epoch (0-based, as Lightning and train_summary.json count it) marked; accuracy on its full
    0-1 range and loss from 0, so noise is not magnified."""
    epochs = history["epoch"].astype(int) + 1  # Lightning counts from 0
    selected = int(selected_epoch) + 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "acc")):
        top = 0.0
        for stage, style in (("train", "-"), ("val", "--")):
            col = f"{stage}_{metric}"
            if col in history:
                values = history[col].astype(float)
                ax.plot(epochs, values, style, marker="o", markersize=3, label=stage)
                top = max(top, float(np.nanmax(values)) if values.notna().any() else 0.0)
                at = values[epochs == selected]
                if stage == "val" and len(at) and pd.notna(at.iloc[0]):
                    ax.plot([selected], [at.iloc[0]], marker="*", markersize=13, color="tab:red", ls="", zorder=4)
        ax.axvline(selected, color="tab:red", alpha=0.6, label=f"selected epoch {selected}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, max(int(epochs.max()) if len(epochs) else 1, 1) + 0.5)
        if metric == "acc":
            ax.set_ylim(0, 1)
        else:
            ax.set_ylim(0, top * 1.1 if top > 0 else 1)
        ax.set_xlabel("epoch (from 1)")
        ax.set_ylabel("accuracy" if metric == "acc" else "cross-entropy loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------- claims chart

VERDICT_COLOURS = {
    "reproduced": "tab:green",
    "not reproduced (higher)": "tab:red",
    "not reproduced (lower)": "tab:red",
    "synthetic only": "tab:gray",
    "untestable": "lightgray",
}
CHANCE_CLASSES = 7  # the basic-7 label set most claims use; the line is labelled with it


def claim_label(row) -> str:
    """The full row label: experiment (LEAKY), dataset, table and row of the paper; never cut."""
    label = f"{row.experiment}{' (LEAKY)' if row.variant else ''} · {row.dataset} · {row.table}"
    return label + (" (untestable)" if row.verdict == "untestable" else "")


def claims_chart_title(table: pd.DataFrame, metric: str, preset: str | None) -> str:
    """Says the preset, the data ours was measured on, and "synthetic" whenever it was."""
    synthetic = (table["verdict"] == "synthetic only").any()
    datasets = sorted({str(d) for d in table["dataset"] if d})
    where = (
        "ours measured on SYNTHETIC data, not comparable with the claims"
        if synthetic
        else f"datasets {', '.join(datasets)}"
    )
    prefix = f"preset {preset}: " if preset else ""
    return f"Claimed vs ours, {metric.replace('_', ' ')} (95% CI): {prefix}{where}"


def plot_claims(
    table: pd.DataFrame, path: str | Path, metric: str = "test_accuracy", preset: str | None = None
) -> None:
    fig = claims_figure(table, metric, preset)
    fig.savefig(path, dpi=110, bbox_inches="tight")  # long row labels are never clipped
    plt.close(fig)


def claims_figure(table: pd.DataFrame, metric: str = "test_accuracy", preset: str | None = None):
    """Claimed vs ours with the CI, one panel per paper, for one metric (test accuracy by default).

    Full row labels, an x-axis label on every panel, the chance rate for 7 classes, an x range a little
    wider than [0, 1] so claims at 0.99 are not drawn on the frame, and a title naming the preset and
    saying when ours was measured on synthetic data."""
    import math
    import textwrap

    rows = table[table["metric"] == metric]
    papers = list(dict.fromkeys(rows["paper"]))
    labels = {
        i: "\n".join(textwrap.wrap(claim_label(r), 70, break_on_hyphens=False))
        for i, r in zip(rows.index, rows.itertuples())
    }
    lines = {p: sum(labels[i].count("\n") + 1 for i in rows.index[rows["paper"] == p]) for p in papers}
    heights = [max(1.6, 0.2 * lines[p] + 0.25 * (rows["paper"] == p).sum() + 1.0) for p in papers] or [1.6]
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(13, sum(heights) + 1.2), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    if not papers:
        axes[0, 0].text(0.5, 0.5, f"no {metric} claims", ha="center", va="center")
        axes[0, 0].set_axis_off()
    chance = 1 / CHANCE_CLASSES
    for ax, paper in zip(axes[:, 0], papers):
        part = rows[rows["paper"] == paper]
        y = list(range(len(part)))[::-1]
        ax.axvline(chance, color="tab:orange", ls=":", lw=1.2, zorder=1)
        ax.scatter(part["_claimed"], y, marker="x", color="black", zorder=3)
        for yi, (_, r) in zip(y, part.iterrows()):
            mean, low, high = r["_mean"], r["_low"], r["_high"]
            if mean is None or (isinstance(mean, float) and math.isnan(mean)):
                continue
            colour = VERDICT_COLOURS.get(r["verdict"], "tab:blue")
            low = mean if low is None or (isinstance(low, float) and math.isnan(low)) else low
            high = mean if high is None or (isinstance(high, float) and math.isnan(high)) else high
            ax.errorbar(
                [mean],
                [yi],
                xerr=[[mean - low], [high - mean]],
                fmt="o",
                color=colour,
                mfc="white" if r["verdict"] == "synthetic only" else colour,
                capsize=3,
                zorder=2,
            )
        ax.set_yticks(y, [labels[i] for i in part.index], fontsize=7)
        ax.set_ylim(-0.6, len(part) - 0.4)
        ax.set_xlim(-0.02, 1.04)
        ax.set_xlabel(f"{metric.replace('_', ' ')} (fraction)", fontsize=8)
        ax.set_title(paper, fontsize=9, loc="left", fontweight="bold")
        ax.grid(axis="x", alpha=0.3)
    handles = [
        plt.Line2D([], [], marker="x", ls="", color="black", label="claimed"),
        plt.Line2D([], [], marker="o", ls="-", color="tab:green", label="ours, reproduced (95% CI)"),
        plt.Line2D([], [], marker="o", ls="-", color="tab:red", label="ours, not reproduced"),
        plt.Line2D(
            [], [], marker="o", ls="-", color="tab:gray", mfc="white", label="ours on synthetic data (not comparable)"
        ),
        plt.Line2D([], [], ls=":", color="tab:orange", label=f"chance, {CHANCE_CLASSES} classes ({chance:.3f})"),
    ]
    top = 1 - 0.7 / (sum(heights) + 1.2)
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, top + 0.005), fontsize=8, ncol=5, frameon=False
    )
    fig.suptitle(claims_chart_title(rows if len(rows) else table, metric, preset), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, top - 0.01))
    return fig
