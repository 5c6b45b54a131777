"""Checks of the reporting keys of a paper config, run by ``load_paper_config`` (PyYAML + jsonschema only)."""

from __future__ import annotations

from ferrepro.config import ConfigError


def validate_comparisons(paper_cfg: dict, where: str) -> list[dict]:
    """The paper's ``comparisons:`` list, checked: both experiments exist and differ, labels are unique.

    The schema checks the shape ({a, b, label}); this checks what a schema cannot: that ``a`` and
    ``b`` name experiments of the same file.
    """
    comparisons = paper_cfg.get("comparisons") or []
    experiments = paper_cfg.get("experiments", {})
    labels: set[str] = set()
    for index, item in enumerate(comparisons):
        for side in ("a", "b"):
            if item[side] not in experiments:
                raise ConfigError(
                    f"{where}: comparisons[{index}] ({item.get('label', '')!r}): `{side}: {item[side]}` "
                    f"is not an experiment of this paper; experiments: {sorted(experiments)}"
                )
        if item["a"] == item["b"]:
            raise ConfigError(f"{where}: comparisons[{index}] ({item['label']!r}) compares {item['a']!r} with itself")
        if item["label"] in labels:
            raise ConfigError(f"{where}: comparisons[{index}]: label {item['label']!r} is used twice")
        labels.add(item["label"])
    return comparisons
