"""The conda envs (envs/*.yaml) cover what each rule runs, at the versions of requirements.lock.

There is no conda here, so the checks are static:

1. every rule that runs something declares `conda:` with an existing env file (rules are read with
   Snakemake's own API, in a subprocess, from a temp copy of the workflow);
2. each env lists the distributions its rules import. What a rule imports is derived, not listed by
   hand: its shell command calls `ferrepro <command>`, `ferrepro.cli.COMMANDS` names the module, and
   an `ast` walk follows that module's imports through the package (lazy imports inside functions
   included, and modules named in strings, as the decoder and model registries load them) down to
   third-party import names, which `importlib.metadata` maps to distributions;
3. every env pins each pip package with `==`, to exactly the version in requirements.lock, and pins a
   Python that every one of those releases supports.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from ferrepro.cli import COMMANDS

# One xdist worker runs the module, so the workflow is loaded once (module fixture).
pytestmark = pytest.mark.xdist_group("envs")

PACKAGE = "ferrepro"
ENVS = REPO / "envs"
# `python -m ferrepro` (workflow/scripts/ferrepro) runs these before the command's own module.
ENTRY_MODULES = ("ferrepro.__main__", "ferrepro.cli")
# Import names whose distribution metadata does not declare them (dlib-bin ships a bare extension
# module), or that may be absent from the test environment; anything else maps through metadata or
# is assumed to be its own distribution name.
IMPORT_TO_DISTRIBUTION = {
    "cv2": "opencv-python-headless",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "PyYAML",
    "dlib": "dlib-bin",
    "imblearn": "imbalanced-learn",
    "PIL": "pillow",
}
# Needs that no import statement shows: pandas' parquet IO loads its default engine, pyarrow.
CALL_NEEDS = {"to_parquet": "pyarrow", "read_parquet": "pyarrow"}
# Conda-level dependencies; every other package goes under `pip:` so its version can match the lock.
CONDA_ONLY = {"python", "pip"}
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class ImportGraph:
    """Static imports of a source tree's package, module by module (no code is imported or run)."""

    def __init__(self, src: Path, package: str = PACKAGE):
        self.src, self.package = Path(src), package

    def file_of(self, module: str) -> Path | None:
        if not DOTTED_NAME.fullmatch(module) or module.split(".")[0] != self.package:
            return None
        path = self.src.joinpath(*module.split("."))
        if (path / "__init__.py").is_file():
            return path / "__init__.py"
        return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None

    def submodules(self, package: str) -> set[str]:
        folder = self.src.joinpath(*package.split("."))
        return {f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"} | {
            f"{package}.{p.parent.name}" for p in folder.glob("*/__init__.py")
        }

    def direct(self, module: str) -> tuple[set[str], set[str]]:
        """(package modules, third-party top-level names or distributions) that `module` may import."""
        path = self.file_of(module)
        tree = ast.parse(path.read_text(), filename=str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        constants = {
            t.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        names: set[str] = set()
        third_party: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and self.file_of(node.value):
                names.add(node.value)  # a module named in a string, e.g. a registry of lazily imported decoders
            elif isinstance(node, ast.Name) and node.id == "__path__":
                # a package that lists its own folder discovers (and may import) every submodule:
                # pkgutil.iter_modules(__path__), or a ferrepro.plugins.PluginRegistry made of it
                names |= self.submodules(package)
            elif isinstance(node, ast.Call):
                func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if func in CALL_NEEDS:
                    third_party.add(CALL_NEEDS[func])
                if func in ("import_module", "find_spec") and node.args:
                    names |= self._dynamic_target(node.args[0], constants, package)
        internal = set()
        for name in names:
            top = name.split(".")[0]
            if top == self.package:
                parts = name.split(".")
                internal |= {".".join(parts[:i]) for i in range(1, len(parts) + 1) if self.file_of(".".join(parts[:i]))}
            elif top and top != "__future__" and top not in sys.stdlib_module_names:
                third_party.add(top)
        return internal, third_party

    def _dynamic_target(self, arg: ast.expr, constants: dict[str, str], package: str) -> set[str]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return {arg.value}
        if isinstance(arg, ast.Name) and arg.id in constants:
            return {constants[arg.id]}
        return set()  # a computed name: its candidates appear as strings elsewhere, if at all

    def third_party_closure(self, *modules: str) -> dict[str, str]:
        """{third-party name: the package module that imports it} over everything `modules` may import."""
        seen: set[str] = set()
        needs: dict[str, str] = {}
        todo = list(modules)
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            internal, third_party = self.direct(module)
            for name in sorted(third_party):
                needs.setdefault(name, module)
            todo.extend(internal - seen)
        return needs


@cache
def _metadata_map() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(import_name: str) -> set[str]:
    """Canonical distribution names that can provide `import_name` (any one of them suffices)."""
    found = set(_metadata_map().get(import_name, []))
    found.add(IMPORT_TO_DISTRIBUTION.get(import_name, import_name))
    return {canonicalize_name(d) for d in found}


def load_env(path: Path) -> tuple[list[str], list[Requirement]]:
    """(conda dependencies, pip requirements) of a conda env file; raises naming the file if malformed."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and isinstance(data.get("dependencies"), list), (
        f"{path}: a conda env needs a `dependencies:` list"
    )
    conda, pip = [], []
    for dep in data["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path}: unexpected dependency mapping {dep}"
            pip += [Requirement(line) for line in dep["pip"]]
        else:
            conda.append(str(dep))
    return conda, pip


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


RULES_SCRIPT = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import OutputSettings, ResourceSettings

work = Path(sys.argv[1])
with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(), snakefile=work / "Snakefile", workdir=work)
    rules = [{"name": r.name, "conda": None if r.conda_env is None else str(r.conda_env), "shell": r.shellcmd,
              "runs_code": not r.norun, "snakefile": str(r.snakefile)} for r in workflow._workflow.rules]
print("RULES=" + json.dumps(rules))
"""


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory, venv_env) -> list[dict]:
    """Every rule as Snakemake parses it, with `conda` resolved to a path inside the repository."""
    work = copy_workflow(tmp_path_factory.mktemp("envs"))
    proc = subprocess.run(
        [sys.executable, "-c", RULES_SCRIPT, str(work)],
        check=False,
        cwd=work,
        env=venv_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RULES=")), None)
    assert proc.returncode == 0 and line, f"could not load the workflow:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rules = json.loads(line.removeprefix("RULES="))
    for rule in rules:
        if rule["conda"]:
            env = (Path(rule["snakefile"]).parent / rule["conda"]).resolve()
            rule["env"] = REPO / env.relative_to(work.resolve()) if env.is_relative_to(work.resolve()) else env
    assert len(rules) > 5, rules
    return rules


def commands_of(rule: dict) -> list[str]:
    return re.findall(r"workflow/scripts/ferrepro\s+([a-z][a-z-]*)", rule["shell"] or "")


def test_every_rule_that_runs_something_has_an_existing_conda_env(workflow_rules):
    for rule in workflow_rules:
        if not rule["runs_code"]:
            continue
        assert rule["conda"], f"rule {rule['name']} ({rule['snakefile']}) has no `conda:` env; add one from envs/"
        assert rule["env"].is_file(), f"rule {rule['name']}: conda env {rule['env']} does not exist"
        assert rule["env"].parent == ENVS, f"rule {rule['name']}: its env {rule['env']} is not in envs/"


def test_every_env_file_is_used_by_a_rule(workflow_rules):
    used = {rule["env"] for rule in workflow_rules if rule.get("env")}
    unused = sorted(p.name for p in ENVS.glob("*.yaml") if p not in used)
    assert not unused, f"envs/{unused} are used by no rule: delete them or point a rule's `conda:` at them"


def test_every_rule_calls_a_known_ferrepro_command(workflow_rules):
    """The env check below derives a rule's needs from its `ferrepro <command>`; a rule it cannot read would slip."""
    for rule in workflow_rules:
        if rule["runs_code"]:
            commands = commands_of(rule)
            assert commands, f"rule {rule['name']} does not call workflow/scripts/ferrepro: {rule['shell']!r}"
            assert set(commands) <= set(COMMANDS), f"rule {rule['name']}: unknown command in {commands}"


def test_each_env_lists_every_distribution_its_rules_import(workflow_rules):
    graph = ImportGraph(REPO / "src")
    missing = []
    for rule in workflow_rules:
        if not rule["runs_code"]:
            continue
        _, pip = load_env(rule["env"])
        listed = {canonicalize_name(req.name) for req in pip}
        for command in commands_of(rule):
            module = COMMANDS[command][0].split(":")[0]
            for name, importer in graph.third_party_closure(module, *ENTRY_MODULES).items():
                if not distributions_of(name) & listed:
                    missing.append(
                        f"rule {rule['name']} (`ferrepro {command}`) imports {name!r} (in {importer}): "
                        f"add {' or '.join(sorted(distributions_of(name)))} to envs/{rule['env'].name}"
                    )
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("env", sorted(ENVS.glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_match_requirements_lock(env):
    conda, pip = load_env(env)
    pins = lock_pins()
    for dep in conda:
        assert dep.partition("=")[0] in CONDA_ONLY, (
            f"{env}: {dep!r} is a conda package; list it under `pip:` pinned as in requirements.lock"
        )
    assert pip, f"{env} lists no pip packages"
    for req in pip:
        exact = [s.version for s in req.specifier if s.operator == "=="]
        assert len(exact) == 1 and len(req.specifier) == 1, f"{env}: pin {req} exactly (==), as in requirements.lock"
        name = canonicalize_name(req.name)
        assert name in pins, f"{env}: {req.name} is not in requirements.lock; install it and run `make lock`"
        assert exact[0] == pins[name], f"{env}: {req.name}=={exact[0]} but requirements.lock pins {pins[name]}"


@pytest.mark.parametrize("env", sorted(ENVS.glob("*.yaml")), ids=lambda p: p.name)
def test_env_python_can_install_every_pinned_package(env):
    """The env's `python=X.Y` must satisfy each pinned release's Requires-Python (read from the installed
    metadata of that same release) and the project's own requires-python."""
    conda, pip = load_env(env)
    versions = [dep.partition("=")[2] for dep in conda if dep.partition("=")[0] == "python"]
    assert len(versions) == 1 and versions[0], f"{env}: pin the interpreter, e.g. `python=3.11`"
    python = versions[0] + ".0"
    pyproject = (REPO / "pyproject.toml").read_text()
    project = re.search(r'^requires-python\s*=\s*"([^"]+)"', pyproject, re.MULTILINE).group(1)
    assert SpecifierSet(project).contains(python), f"{env}: python={versions[0]} is outside requires-python {project}"
    checked = 0
    for req in pip:
        try:
            meta = importlib.metadata.metadata(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if req.specifier.contains(meta["Version"]) and meta.get("Requires-Python"):
            checked += 1
            assert SpecifierSet(meta["Requires-Python"]).contains(python), (
                f"{env}: {req} needs Python {meta['Requires-Python']}, but the env has python={versions[0]}"
            )
    assert checked, f"{env}: none of its pinned releases is installed here, so nothing was checked"


# --- the import analysis itself, on a tiny package written here (so the checks above can fail) ---


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_import_graph_follows_lazy_relative_string_and_discovered_imports(tmp_path):
    pkg = tmp_path / "demo"
    write(pkg / "__init__.py", "")
    write(
        pkg / "cmd.py",
        "import json\nfrom . import helpers\n\ndef cli():\n    import numpy\n    from .registry import load\n",
    )
    write(pkg / "helpers.py", "import pandas as pd\n\ndef save(df):\n    df.to_parquet('x')\n")
    write(
        pkg / "registry.py",
        "import importlib\nREG = {'a': 'demo.plugins.a'}\ndef load(n):\n    return importlib.import_module(REG[n])\n",
    )
    write(pkg / "plugins" / "__init__.py", "")
    write(pkg / "plugins" / "a.py", "import cv2\n")
    write(
        pkg / "models" / "__init__.py",
        "import importlib, pkgutil\n"
        "def discover():\n    for i in pkgutil.iter_modules(__path__):\n"
        "        importlib.import_module(f'{__name__}.{i.name}')\n",
    )
    write(pkg / "models" / "m.py", "import torch\n")
    write(
        pkg / "assets.py",
        "import importlib.util\nMODELS = 'weights_pkg'\ndef where():\n    return importlib.util.find_spec(MODELS)\n",
    )
    write(pkg / "unused.py", "import tensorflow\n")

    graph = ImportGraph(tmp_path, package="demo")
    assert graph.third_party_closure("demo.cmd") == {
        "numpy": "demo.cmd",
        "pandas": "demo.helpers",
        "pyarrow": "demo.helpers",
        "cv2": "demo.plugins.a",
    }
    assert graph.third_party_closure("demo.models") == {"torch": "demo.models.m"}
    assert graph.third_party_closure("demo.assets") == {"weights_pkg": "demo.assets"}


def test_distribution_names_cover_import_names_that_differ():
    assert "opencv-python-headless" in distributions_of("cv2")
    assert "scikit-learn" in distributions_of("sklearn")
    assert "dlib-bin" in distributions_of("dlib")
    assert distributions_of("numpy") == {"numpy"}


def test_env_check_reports_a_missing_package(tmp_path):
    env = tmp_path / "env.yaml"
    env.write_text(yaml.safe_dump({"dependencies": ["python=3.11", {"pip": ["numpy==2.4.6"]}]}))
    _, pip = load_env(env)
    listed = {canonicalize_name(r.name) for r in pip}
    assert distributions_of("numpy") & listed and not distributions_of("cv2") & listed
