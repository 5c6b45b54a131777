"""The report leads with the verdicts: counts on top, one compact table per paper, then the full table;
"synthetic" in every synthetic table's title; per-class P/R/F1 tables; the leaky-vs-proper figure.

Built from hand-made runs and claim groups (tests/test_claims.py's helpers), no workflow run.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from test_claims import CLASSES, group, outcomes, registry, table_for, write_run  # noqa: F401 (registry: fixture)

from ferrepro.reporting import claims as claims_mod
from ferrepro.reporting import comparisons as comparisons_mod
from ferrepro.reporting import per_class as per_class_mod
from ferrepro.reporting.comparisons import comparison_rows
from ferrepro.reporting.runs import load_runs


def test_claims_page_opens_on_the_counts_then_one_compact_table_per_paper_then_the_full_table(tmp_path, registry):
    groups = [group("proposed", "fer2013", "fer2013", 0.69, 0.66, 0.72)]
    table = table_for(groups, registry)
    claims_mod.write_claims(table, tmp_path / "claims.md", tmp_path / "claims.html")
    page = (tmp_path / "claims.html").read_text()
    assert page.startswith('<div class="ferrepro-table" id="claims-overview">')
    counts = claims_mod.verdict_counts(table)
    assert page.index(counts) < page.index('id="claims-demo"') < page.index('id="claims"')
    compact = re.search(r'id="claims-demo">.*?<thead>(.*?)</thead><tbody>(.*?)</tbody>', page, re.S)
    headers = re.findall(r"<th>(.*?)</th>", compact.group(1))
    assert headers == ["claim", "claimed", "ours", "95% CI", "verdict"]  # no wide reason column
    assert len(re.findall(r"<tr", compact.group(2))) == len(table)
    assert "T1, ours (proposed): test_accuracy on fer2013" in compact.group(2)
    # the full table (the one the browser test counts) keeps its reasons
    full = re.search(r'id="claims">.*?<thead>(.*?)</thead>', page, re.S).group(1)
    assert "reason / note" in full
    md = (tmp_path / "claims.md").read_text()
    assert md.startswith("# Claims against reproduced numbers\n\n**") and counts in md.splitlines()[2]
    assert md.index("## demo") < md.index("## Claims against reproduced numbers: the full table")
    assert "SYNTHETIC" not in md  # real data only here


def test_synthetic_claims_say_so_in_the_dataset_column_and_every_title(tmp_path, registry):
    groups = [group("proposed", "synthetic", "synthetic", 0.7, 0.6, 0.8, synthetic=True)]
    table = table_for(groups, registry)
    row = table[(table.table == "T1") & (table.metric == "test_accuracy") & (table.experiment == "proposed")].iloc[0]
    assert row["verdict"] == "synthetic only" and row["dataset"] == "fer2013 (ours: synthetic)"
    assert not table[table.verdict == "untestable"]["dataset"].str.contains("ours:").any()
    claims_mod.write_claims(table, tmp_path / "claims.md", tmp_path / "claims.html")
    titles = re.findall(r"^#+ (.*)$", (tmp_path / "claims.md").read_text(), re.M)
    assert len(titles) == 3 and all("SYNTHETIC" in t for t in titles)  # page, paper demo, full table


def test_per_class_tables_per_paper_and_dataset_show_na_for_a_class_without_support(tmp_path):
    rng = np.random.default_rng(0)
    y_true, y_pred = outcomes(rng, 120, 0.8)
    keep = y_true != CLASSES.index("disgust")  # no disgust image in the test split
    files = [write_run(tmp_path, "demo", "proposed", "fer2013", seed, y_true[keep], y_pred[keep]) for seed in (0, 1)]
    files.append(write_run(tmp_path, "demo", "proposed", "synthetic", 0, *outcomes(rng, 70, 0.5)))
    table = per_class_mod.per_class_rows(load_runs(files))
    real = table[table["trained on"] == "fer2013"].set_index("class")
    assert list(real.index) == CLASSES and real["runs"].eq(2).all()
    assert tuple(real.loc["disgust", ["precision", "recall", "F1"]]) == ("n/a", "n/a", "n/a")
    assert real.loc["disgust", "support"] == 0
    happy = CLASSES.index("happy")
    expected_recall = float((y_pred[keep][y_true[keep] == happy] == happy).mean())
    assert real.loc["happy", "recall"] == f"{expected_recall:.4f}"
    assert real.loc["happy", "support"] == 2 * int((y_true[keep] == happy).sum())
    per_class_mod.write_per_class(table, tmp_path / "pc.csv", tmp_path / "pc.md", tmp_path / "pc.html")
    md = (tmp_path / "pc.md").read_text()
    sections = re.findall(r"^## (.*)$", md, re.M)
    assert sections == [
        "demo: per-class P/R/F1, trained and tested on fer2013",
        "demo: per-class P/R/F1, trained and tested on synthetic (SYNTHETIC data: a pipeline check, "
        "never a paper's number)",
    ]
    assert md.startswith("# Per-class precision, recall and F1 (SYNTHETIC")
    assert "| proposed | disgust | n/a | n/a | n/a | 0 | 2 |" in md
    assert (tmp_path / "pc.html").read_text().startswith('<div class="ferrepro-table" id="per-class">')
    assert len(pd.read_csv(tmp_path / "pc.csv")) == 2 * len(CLASSES)


def test_per_class_command_is_registered_and_runs(tmp_path):
    from ferrepro import cli

    assert cli.COMMANDS["per-class"][0] == "ferrepro.reporting.per_class:cli"
    path = write_run(tmp_path, "demo", "proposed", "fer2013", 0, *outcomes(np.random.default_rng(1), 50, 0.7))
    assert (
        per_class_mod.cli(
            [
                "--metrics",
                str(path),
                "--out-csv",
                str(tmp_path / "p.csv"),
                "--out-md",
                str(tmp_path / "p.md"),
                "--out-html",
                str(tmp_path / "p.html"),
            ]
        )
        == 0
    )
    assert "| proposed | happy |" in (tmp_path / "p.md").read_text()


def _leaky_table(tmp_path, seeds=(0,)):
    rng = np.random.default_rng(3)
    files = []
    for seed in seeds:
        shared = [f"s{i}" for i in range(60)]
        files.append(
            write_run(
                tmp_path,
                "demo",
                "a_leaky",
                "synthetic",
                seed,
                *outcomes(rng, 100, 0.95),
                ids=shared + [f"leak{i}" for i in range(40)],
                leaky=True,
            )
        )
        files.append(
            write_run(
                tmp_path,
                "demo",
                "a",
                "synthetic",
                seed,
                *outcomes(rng, 100, 0.5),
                ids=shared + [f"own{i}" for i in range(40)],
            )
        )
    cfg = {
        "paper": "demo",
        "experiments": {"a": {}, "a_leaky": {}},
        "comparisons": [
            {"a": "a_leaky", "b": "a", "label": "leaky vs proper: demo net"},
            {"a": "a", "b": "a_leaky", "label": "not a leak pair"},
        ],
    }
    return comparison_rows([cfg], load_runs(files))


def test_leaky_vs_proper_rows_take_the_difference_its_ci_and_the_shared_image_mcnemar(tmp_path):
    table = _leaky_table(tmp_path)
    [row] = comparisons_mod.leaky_vs_proper_rows(table)
    source = table[table["comparison"] == "leaky vs proper: demo net"].iloc[0]
    assert row["label"] == "demo: demo net (synthetic -> synthetic)" and row["synthetic"]
    assert row["difference"] == float(source["difference a - b"]) > 0.2
    assert row["low"] < row["difference"] < row["high"]
    assert row["pvalues"] == [("0", float(source["McNemar p"].split()[0]))] and row["pvalues"][0][1] < 0.05
    # read back from the CSV as the figure's users would: the same rows
    table.to_csv(tmp_path / "c.csv", index=False)
    again = comparisons_mod.leaky_vs_proper_rows(pd.read_csv(tmp_path / "c.csv", keep_default_na=False))
    assert again == [row]


def test_leaky_vs_proper_uses_the_seed_mean_row_and_lists_every_seed_p(tmp_path):
    table = _leaky_table(tmp_path, seeds=(0, 1))
    [row] = comparisons_mod.leaky_vs_proper_rows(table)
    pooled = table[(table["comparison"] == "leaky vs proper: demo net") & (table["seed"].astype(str) == "all")].iloc[0]
    assert row["difference"] == float(pooled["difference a - b"])
    assert [seed for seed, _ in row["pvalues"]] == ["0", "1"]


def test_leaky_vs_proper_figure_has_ci_bars_p_values_zero_line_and_synthetic_title(tmp_path):
    import matplotlib.pyplot as plt

    table = _leaky_table(tmp_path)
    fig = comparisons_mod.leaky_vs_proper_figure(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["demo: demo net (synthetic -> synthetic)"]
    assert "SYNTHETIC" in fig._suptitle.get_text() and "accuracy(leaky) - accuracy(proper)" in ax.get_xlabel()
    assert any(t.get_text().startswith("McNemar p = ") for t in ax.texts)
    assert any(list(line.get_xdata()) == [0, 0] for line in ax.lines)
    plt.close(fig)
    comparisons_mod.plot_leaky_vs_proper(table, tmp_path / "lvp.png")
    assert (tmp_path / "lvp.png").read_bytes()[:4] == b"\x89PNG"
    empty = comparisons_mod.leaky_vs_proper_figure(table[table["comparison"] == "none"])
    assert "no leaky-vs-proper comparison" in empty.axes[0].texts[0].get_text()
    plt.close(empty)
