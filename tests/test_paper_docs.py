"""docs/papers/<paper>.md shows each paper's experiment rows exactly as its config defines them."""

from pathlib import Path

import pytest

from ferrepro.config import ConfigError, load_paper_config
from ferrepro.paper_docs import BEGIN, END, render_block, sync_doc

REPO = Path(__file__).resolve().parents[1]
PAPERS = sorted(p.stem for p in (REPO / "config" / "papers").glob("*.yaml"))


@pytest.mark.parametrize("paper", PAPERS)
def test_paper_doc_table_matches_its_config(paper):
    cfg = load_paper_config(REPO / "config" / "papers" / f"{paper}.yaml")
    doc = (REPO / "docs" / "papers" / f"{paper}.md").read_text()
    assert render_block(cfg, REPO) in doc, f"docs/papers/{paper}.md is out of date: run `ferrepro paper-docs`"
    for name in cfg["experiments"]:
        assert f"| `{name}` |" in doc


def test_table_reports_why_an_experiment_cannot_run_on_real_data():
    cfg = load_paper_config(REPO / "config" / "papers" / "gilanie2025.yaml")
    block = render_block(cfg, REPO)
    utk = next(line for line in block.splitlines() if line.startswith("| `table3_utkface`"))
    assert "no: utkface: UTKFace labels are age, gender and ethnicity only" in utk
    local = next(line for line in block.splitlines() if line.startswith("| `exp01_local_intensity_2cls`"))
    assert "gilanie_local" in local and "not in config/datasets.yaml" in local and "classes happy vs sad" in local


def test_sync_needs_the_markers_once():
    cfg = load_paper_config(REPO / "config" / "papers" / "majeed2025.yaml")
    with pytest.raises(ConfigError, match="needs the markers"):
        sync_doc("no markers here", cfg, REPO)
    synced = sync_doc(f"intro\n{BEGIN}\nstale\n{END}\noutro", cfg, REPO)
    assert synced.startswith("intro\n") and synced.endswith("\noutro") and "stale" not in synced
