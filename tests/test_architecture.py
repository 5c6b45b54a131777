"""The import layering of src/ferrepro (docs/architecture.md, "Packages"), checked by parsing every module.

Every import counts, also one inside a function (imported lazily to keep start-up cheap, it is still a
dependency). A new top-level package or module must be added to ``MAY_IMPORT`` and to the doc's table.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "ferrepro"

FOUNDATIONS = {"labels", "provenance", "plugins", "runspec", "evaluation.metrics"}
# Single modules that form a unit of their own: the metric table sits in evaluation (beside the code that
# computes metrics) but imports nothing from ferrepro and needs only the standard library at import, so the
# parse-time config code can derive the schema's metric enum from it without loading evaluation.
LEAF_MODULES = {"ferrepro.evaluation.metrics": "evaluation.metrics"}
# package -> the ferrepro packages it may import; a package imports nothing above it. Top-level units are
# the packages and the single modules directly under src/ferrepro (`ferrepro` is its __init__).
MAY_IMPORT: dict[str, set[str]] = {
    "ferrepro": set(),
    "labels": set(),
    "provenance": set(),
    "plugins": set(),
    "evaluation.metrics": set(),
    "runspec": {"labels"},
    "data": {"labels", "provenance", "plugins"},
    "models": {"plugins", "runspec"},
    "config": FOUNDATIONS | {"data", "models"},
    "features": FOUNDATIONS | {"data"},
    "training": FOUNDATIONS | {"config", "data", "features", "models"},
    "evaluation": FOUNDATIONS | {"config", "data", "features", "models", "training"},
    "reporting": FOUNDATIONS | {"config", "data", "evaluation"},
    "paper_docs": FOUNDATIONS | {"config"},
    "predict": FOUNDATIONS | {"config", "data", "evaluation", "features", "models", "training"},
    "cli": {"ferrepro"},  # it finds each command's module by name (importlib), so it imports none of them
    "__main__": {"cli"},
}
# What the workflow may load at parse time (ferrepro.config's docstring): Snakemake may run outside the
# project's environment (e.g. with --use-conda), where only Snakemake and its dependencies are installed.
PARSE_TIME_DISTRIBUTIONS = {"snakemake", "pyyaml", "jsonschema"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. ferrepro.data.splits
    module: str  # the ferrepro module imported from, e.g. ferrepro.labels
    name: str | None  # the name taken from it (from-import), or None for `import module`
    line: int

    @property
    def target(self) -> str:
        """The imported ferrepro module: `from ferrepro.features import hog` imports ferrepro.features.hog."""
        full = f"{self.module}.{self.name}" if self.name else self.module
        return full if self.name and is_module(full) else self.module


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def unit(dotted: str) -> str:
    """The top-level package (or single module) of a dotted ferrepro name, or its leaf-module unit."""
    for module, leaf in LEAF_MODULES.items():
        if dotted == module or dotted.startswith(module + "."):
            return leaf
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def absolute(node: ast.ImportFrom, importer: str, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def ferrepro_imports(path: Path) -> list[Import]:
    importer = module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(importer, a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node, importer, path)
            found += [Import(importer, module, a.name, node.lineno) for a in node.names]
    return [i for i in found if i.module == PACKAGE or i.module.startswith(PACKAGE + ".")]


MODULES = sorted(SRC.joinpath(PACKAGE).rglob("*.py"))
IMPORTS = {module_name(p): ferrepro_imports(p) for p in MODULES}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for imports in IMPORTS.values():
        for imp in imports:
            if unit(imp.importer) != unit(imp.target):
                graph[unit(imp.importer)].add(unit(imp.target))
    return graph


def where(imp: Import) -> str:
    name = f" import {imp.name}" if imp.name else ""
    return f"{imp.importer} (line {imp.line}): from {imp.module}{name}"


def test_every_package_has_a_row_in_the_table():
    units = {unit(module_name(p)) for p in MODULES}
    missing = sorted(units - set(MAY_IMPORT))
    assert not missing, (
        f"src/ferrepro has new top-level units {missing}: add each to MAY_IMPORT in tests/test_architecture.py "
        "and to the package table of docs/architecture.md, with what it may import"
    )


@pytest.mark.parametrize(
    "package",
    sorted(MAY_IMPORT),
)
def test_package_imports_nothing_above_it(package):
    bad = [
        where(imp)
        for imports in IMPORTS.values()
        for imp in imports
        if unit(imp.importer) == package and unit(imp.target) != package and unit(imp.target) not in MAY_IMPORT[package]
    ]
    assert not bad, f"{package} may import only {sorted(MAY_IMPORT[package])}, but:\n" + "\n".join(bad)


def test_nothing_imports_the_cli():
    bad = [
        where(imp)
        for imports in IMPORTS.values()
        for imp in imports
        if unit(imp.target) == "cli" and unit(imp.importer) not in ("cli", "__main__")
    ]
    assert not bad, "the cli dispatches to the packages, never the other way round:\n" + "\n".join(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None (depth-first search, with the current path)."""
    done: set[str] = set()

    def visit(path: list[str]) -> list[str] | None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit([*path, nxt])):
                return cycle
        done.add(path[-1])
        return None

    return next((cycle for start in sorted(graph) if start not in done and (cycle := visit([start]))), None)


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_packages():
    cycle = find_cycle(package_graph())
    assert cycle is None, f"import cycle between packages: {' -> '.join(cycle)}"


def private_uses(module: str) -> list[str]:
    """`from other import _name`, or `other._name` on a ferrepro module bound by an import."""
    bad = [where(imp) for imp in IMPORTS[module] if imp.name and is_private(imp.name) and imp.module != module]
    path = SRC.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    bound = {}
    for imp in IMPORTS[module]:
        if imp.name and imp.target != imp.module:
            bound[imp.name] = imp.target
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and is_private(node.attr):
            owner = bound.get(node.value.id)
            if owner and owner != module:
                bad.append(f"{module} (line {node.lineno}): {owner}.{node.attr}")
    return bad


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize(
    "module",
    sorted(IMPORTS),
)
def test_module_uses_no_private_name_of_another(module):
    bad = private_uses(module)
    assert not bad, "a leading underscore means 'only this module': make the name public where it lives, or " + (
        "move the code that needs it there:\n" + "\n".join(bad)
    )


def parse_time_modules() -> list[str]:
    """The ferrepro modules the Snakefile and the rules files import while Snakemake parses them."""
    found = set()
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        found |= set(re.findall(r"^\s*(?:from|import)\s+(ferrepro[\w.]*)", path.read_text(), re.MULTILINE))
    return sorted(found)


def heavy_distributions() -> set[str]:
    """The project's dependencies that Snakemake itself does not bring (torch, numpy, pandas, ...)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {normalise(re.split(r"[<>=!~ \[;]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}
    return names - {normalise(n) for n in PARSE_TIME_DISTRIBUTIONS}


def normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_parse_time_imports_need_only_what_snakemake_has(venv_env):
    """Parsing the workflow must not load torch, numpy or pandas: Snakemake may run outside the project's
    environment (e.g. with --use-conda), and `snakemake -n` stays fast."""
    modules = parse_time_modules()
    assert "ferrepro.config" in modules
    probe = (
        "import importlib, importlib.metadata as md, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "dists = md.packages_distributions()\n"
        "print(json.dumps({m: dists.get(m, []) for m in {k.split('.')[0] for k in sys.modules}}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], env={**venv_env, "PYTHONPATH": str(SRC)}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    heavy = heavy_distributions()
    loaded = {m: d for m, dists in json.loads(proc.stdout).items() for d in dists if normalise(d) in heavy}
    assert not loaded, (
        f"importing {modules} at parse time loads {loaded}: import them inside the function that needs them"
    )


RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
IMPORTS_FERREPRO = re.compile(r"^\s*(from|import)\s+ferrepro\b", re.MULTILINE)


@pytest.mark.parametrize(
    "rules",
    [p.name for p in RULE_FILES if p.name != "common.smk"],
)
def test_only_common_smk_calls_the_package_at_parse_time(rules):
    """common.smk is the one front door from the workflow to ferrepro at parse time; the other rules files
    only declare rules (their jobs run `workflow/scripts/ferrepro <command>`)."""
    text = (REPO / "workflow" / "rules" / rules).read_text()
    found = [line.strip() for line in text.splitlines() if IMPORTS_FERREPRO.match(line)]
    assert not found, f"workflow/rules/{rules} imports ferrepro (move the call into common.smk): {found}"


def doc_table() -> dict[str, set[str]]:
    """The package table of docs/architecture.md: `| package | may import | ... |` rows."""
    rows = {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and (m := re.fullmatch(r"`([a-z_.]+)`", cells[0])):
            rows[m[1]] = set(re.findall(r"`([a-z_.]+)`", cells[1]))
    return rows


def test_doc_table_is_the_enforced_table():
    assert doc_table() == MAY_IMPORT, "docs/architecture.md's package table and MAY_IMPORT disagree"
