"""The gpu and slurm Snakemake profiles are valid and do what they say (dry runs only, no GPU, no cluster).

Each check runs the real `snakemake -n --printshellcmds` in a temp copy of the workflow and reads the
jobs it prints: their resources (what the scheduler and the SLURM plugin see) and their shell commands
(whose `--spec` JSON is the run's fully resolved spec, so it shows whether the profile's trainer
settings reached the training process).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest
import yaml
from conftest import REPO, copy_workflow

# One xdist worker runs the module, so the three dry runs (module fixtures) happen once.
pytestmark = pytest.mark.xdist_group("profiles")

GPU_TRAINER = yaml.safe_load((REPO / "profiles" / "gpu" / "overrides.yaml").read_text())["trainer"]
SLURM = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


def dry_run(workdir, env, *args) -> list[dict]:
    """The planned jobs of a dry run; a train job also gets the spec its spec file holds right now
    (the next dry run in the same workspace rewrites the spec files for its own profile)."""
    cmd = ["snakemake", "-n", "--printshellcmds", *args]
    proc = subprocess.run(cmd, check=False, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{text[-4000:]}"
    jobs = planned_jobs(text)
    for job in jobs:
        if job["rule"] == "train":
            argv = shlex.split(job["shell"].split(">", 1)[0])
            job["spec"] = json.loads((workdir / argv[argv.index("--spec-file") + 1]).read_text())["spec"]
    return jobs


def planned_jobs(text: str) -> list[dict]:
    """Each job block of a dry run as {rule, threads, resources: {name: value}, shell}."""
    jobs, job = [], None
    for line in text.splitlines():
        start = re.match(r"^(?:local)?rule (\w+):$", line)
        if start:
            job = {"rule": start.group(1), "threads": 1, "resources": {}, "shell": None}
            jobs.append(job)
        elif job is None or not line.strip():
            job = None
        elif line.strip().startswith("threads:"):
            job["threads"] = int(line.split(":", 1)[1])
        elif line.strip().startswith("resources:"):
            pairs = line.split(":", 1)[1].split(", ")
            job["resources"] = dict(pair.strip().split("=", 1) for pair in pairs)
        elif line.startswith("Shell command:"):
            job["shell"] = line.split(":", 1)[1].strip()
    assert jobs, f"no job blocks in the dry run output:\n{text[-2000:]}"
    return jobs


def train_spec(job: dict) -> dict:
    """The resolved run spec a train job reads from its `--spec-file`."""
    return job["spec"]


def jobs_of(jobs: list[dict], rule: str) -> list[dict]:
    found = [j for j in jobs if j["rule"] == rule]
    assert found, f"the dry run planned no {rule} job (rules: {sorted({j['rule'] for j in jobs})})"
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("profiles"))


@pytest.fixture(scope="module")
def default_jobs(workspace, venv_env):
    return dry_run(workspace, venv_env, "--cores", "8")


@pytest.fixture(scope="module")
def gpu_jobs(workspace, venv_env):
    # --cores 8: on a 2-core test machine Snakemake would scale the train rule's threads down to 2.
    return dry_run(workspace, venv_env, "--workflow-profile", "profiles/gpu", "--cores", "8")


def needs_slurm_plugin():
    """The slurm profile needs its executor plugin (the `slurm` and `test` extras install it)."""
    return pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[slurm]'")


@pytest.fixture(scope="module")
def slurm_jobs(workspace, venv_env):
    needs_slurm_plugin()
    # A dry run executes locally, so Snakemake scales threads down to --cores; on the cluster it does not.
    return dry_run(workspace, venv_env, "--workflow-profile", "profiles/slurm", "--cores", "64")


@pytest.mark.parametrize("flag", ["--workflow-profile", "--profile"])
def test_gpu_profile_limits_the_workflow_to_one_gpu_job(workspace, monkeypatch, flag):
    """Read the profile with Snakemake's own argument parser: `--resources gpu=1` is the global limit."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(workspace)
    _, args = parse_args(["-n", flag, "profiles/gpu"])
    assert {name: r.value for name, r in args.resources.items()} == {"gpu": 1}
    assert [p.resolve() for p in args.configfile] == [(workspace / "profiles" / "gpu" / "overrides.yaml").resolve()]


def test_gpu_profile_training_jobs_claim_the_gpu_and_get_its_trainer_settings(gpu_jobs):
    for job in jobs_of(gpu_jobs, "train"):
        assert job["resources"].get("gpu") == "1", job
        assert job["threads"] == GPU_TRAINER["threads"], job
        trainer = train_spec(job)["trainer"]
        assert {k: trainer[k] for k in GPU_TRAINER} == GPU_TRAINER
        assert (trainer["accelerator"], trainer["precision"]) == ("auto", "bf16-mixed")
        # Keys the overrides leave alone keep config/config.yaml's values (a deep merge, not a replacement).
        assert trainer["deterministic"] is True and trainer["devices"] == 1
    for job in gpu_jobs:
        if job["rule"] != "train":
            assert "gpu" not in job["resources"], f"{job['rule']} must not hold the GPU slot: {job}"


def test_gpu_profile_changes_only_trainer_settings_not_the_papers_hyperparameters(default_jobs, gpu_jobs):
    """bf16 and workers are hardware settings; batch size, epochs, optimiser... stay the paper's."""
    cpu_specs = {s["experiment"]: s for s in (train_spec(j) for j in jobs_of(default_jobs, "train"))}
    gpu_specs = {s["experiment"]: s for s in (train_spec(j) for j in jobs_of(gpu_jobs, "train"))}
    assert cpu_specs.keys() == gpu_specs.keys()
    for experiment, cpu in cpu_specs.items():
        gpu = gpu_specs[experiment]
        assert {k: v for k, v in gpu.items() if k != "trainer"} == {k: v for k, v in cpu.items() if k != "trainer"}
        assert cpu["trainer"]["precision"] == "32-true" and gpu["trainer"]["precision"] == "bf16-mixed"


def test_slurm_profile_selects_the_slurm_executor(workspace, monkeypatch):
    needs_slurm_plugin()
    from snakemake.cli import parse_args

    monkeypatch.chdir(workspace)
    _, args = parse_args(["-n", "--workflow-profile", "profiles/slurm"])
    assert args.executor == "slurm"
    assert args.resources == {}, "no global GPU limit on a cluster: SLURM schedules the GPUs"


def test_slurm_profile_sends_training_to_the_gpu_partition_and_the_rest_to_cpu(slurm_jobs):
    train_settings = {k: str(v) for k, v in SLURM["set-resources"]["train"].items()}
    assert train_settings["slurm_partition"] != SLURM["default-resources"]["slurm_partition"]
    for job in jobs_of(slurm_jobs, "train"):
        assert {k: job["resources"].get(k) for k in train_settings} == train_settings, job
        assert job["resources"].get("gpu") == "1", job
        assert train_spec(job)["trainer"]["precision"] == "bf16-mixed"
    for job in slurm_jobs:
        if job["rule"] in ("train", "all"):
            continue
        expected = {
            k: str(v) for k, v in {**SLURM["default-resources"], **SLURM["set-resources"].get(job["rule"], {})}.items()
        }
        assert {k: job["resources"].get(k) for k in expected} == expected, job
        assert "gpu" not in job["resources"], job


class _JobResources(dict):
    """The two ways the SLURM plugin reads a job's resources: .get(name) and attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def sbatch_flags(job: dict) -> str:
    """The sbatch arguments the installed SLURM plugin builds from a planned job's resources."""
    plugin = needs_slurm_plugin()
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    resources = _JobResources({k: int(v) if v.isdigit() else v for k, v in job["resources"].items()})
    fake_job = SimpleNamespace(resources=resources, threads=job["threads"], name=job["rule"])
    validate_slurm_extra(fake_job)
    params = {
        "run_uuid": "test",
        "slurm_logfile": "slurm.log",
        "comment_str": f"rule_{job['rule']}",
        "account": "",
        "partition": "",
        "workdir": None,
    }
    return get_submit_command(fake_job, params) + plugin.set_gres_string(fake_job)


def test_slurm_plugin_turns_the_train_rules_gpu_resource_into_a_gpu_request(slurm_jobs):
    """The train rule's `gpu=1` becomes `--gpus=1` (no gres or slurm_extra needed); CPU jobs ask for none."""
    train = sbatch_flags(jobs_of(slurm_jobs, "train")[0]).split()
    settings = SLURM["set-resources"]["train"]
    for flag in (
        "--gpus=1",
        f"--cpus-per-task={settings['cpus_per_task']}",
        str(settings["mem_mb"]),
        str(settings["runtime"]),
    ):
        assert flag in train, train
    evaluate = sbatch_flags(jobs_of(slurm_jobs, "evaluate")[0]).split()
    assert "--ntasks=1" in evaluate and not any(f.startswith(("--gpus", "--gres")) for f in evaluate), evaluate
    # A CPU rule's `threads:` becomes its CPU request.
    assert "--cpus-per-task=4" in sbatch_flags(jobs_of(slurm_jobs, "features_landmarks")[0]).split()
