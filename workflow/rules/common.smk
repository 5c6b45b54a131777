# The one rules file that runs code at parse time: it validates the config, expands it into targets and
# writes the files that targets depend on; the other rules files only declare rules, with the functions
# below. The run matrix itself is built by ferrepro.config, the same code the tests and
# `ferrepro show-config` use, so the workflow and the package can never disagree.
import json
import sys
from pathlib import Path

from snakemake.utils import validate

# The Snakefile itself needs only ferrepro.config and ferrepro.data.options (PyYAML + jsonschema, both
# Snakemake dependencies); jobs run the package through workflow/scripts/ferrepro.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from ferrepro.cli import shell_flags  # noqa: E402
from ferrepro.config import SYNTHETIC_DATASETS, dataset_availability, load_run_matrix, refuse_renamed_keys  # noqa: E402
from ferrepro.config import write_spec_files  # noqa: E402
from ferrepro.config.model_specs import full_preset_model_specs  # noqa: E402
from ferrepro.data.options import decode_arguments, decode_options, manifest_path, write_raw_manifest  # noqa: E402
from ferrepro.models.weights import check_pretrained  # noqa: E402

# A renamed key (`profile`, now `preset`) is refused by name before the schema calls it merely unexpected.
refuse_renamed_keys(config, "the workflow config (config/config.yaml, --configfile, --config)")
validate(config, "../schemas/config.schema.yaml")

# Loading the matrix loads (and checks) every paper config of `papers:`, its comparisons included, so
# a config error stops the workflow here, before any job runs.
RUNS = load_run_matrix(config, workflow.basedir)
RUNS_BY_DIR = {run.run_dir: run for run in RUNS}

# Runs that train from pretrained weights (abdeldayem2025's ImageNet DenseNet121, read from torch hub's
# cache, never downloaded) need a file the user fetches once: if it is missing or fails its hash-prefix
# check, stop here with one message naming every such run, the file, its URL and where it goes, before
# any job runs. Runs already trained for their current spec do not count; the quick preset needs none.
check_pretrained(RUNS, workflow.basedir)

# Each run's resolved spec as a file, rewritten only when its content changes: a file input of the
# train rule, so a config edit reruns exactly the runs it changes, also in a clone without Snakemake's
# metadata (after `dvc pull`), and never a run whose settings stayed the same.
write_spec_files(RUNS, workflow.basedir)


def write_raw_manifests():
    """Each real dataset's raw manifest (file names and sizes, archive checksums), rewritten only when the
    raw folder's content changes: an input of the decode rule, so new or replaced raw data re-decodes (and
    an untouched folder never does)."""
    for dataset, unavailable in dataset_availability(workflow.basedir).items():
        if unavailable is None and dataset not in SYNTHETIC_DATASETS:
            write_raw_manifest(Path(config["raw_dir"]) / dataset, manifest_path(dataset))


write_raw_manifests()

# What each paper's efficiency job builds, from the FULL preset (the paper's sizes, channels and label
# sets). It is the job's parameter, so a paper is re-measured exactly when one of its networks changes.
EFFICIENCY_SPECS = {
    paper: json.dumps(full_preset_model_specs(config, paper, workflow.basedir), sort_keys=True)
    for paper in config["papers"]
}


wildcard_constraints:
    dataset=r"[a-z0-9_+]+",
    target=r"[a-z0-9_+]+",
    paper=r"[a-z0-9_]+",
    experiment=r"[A-Za-z0-9_+\-]+",
    seed=r"\d+",
    protocol=r"official|stratified|subject|subject_k\d+_fold\d+",


def run_of(wildcards):
    key = f"results/runs/{wildcards.paper}/{wildcards.experiment}/{wildcards.dataset}/seed{wildcards.seed}"
    if key not in RUNS_BY_DIR:
        raise ValueError(f"{key} is not in the run matrix of preset {config['preset']!r}")
    return RUNS_BY_DIR[key]


def efficiency_specs(wildcards):
    return EFFICIENCY_SPECS[wildcards.paper]


def decode_flags(dataset):
    """`ferrepro decode` options of a dataset, from config/config.yaml `decode: {<dataset>: ...}`."""
    return decode_arguments(decode_options(config, dataset))


def paper_configs():
    """The config file of every paper this workspace runs (`papers:`): an input of each rule that reads them."""
    return [f"{config['paper_config_dir']}/{paper}.yaml" for paper in config["papers"]]


def every_paper_config():
    """Every paper config in `paper_config_dir`, run here or not: the claims table lists all their claims
    (those of a paper left out of `papers:` as untestable, saying so)."""
    return sorted(str(path) for path in Path(config["paper_config_dir"]).glob("*.yaml"))


def decoded(dataset):
    return {
        "images": f"results/decoded/{dataset}/images.npy",
        "samples": f"results/decoded/{dataset}/samples.csv",
    }


def run_features(run, dataset=None):
    """The cached feature arrays a run fuses, in the order its spec lists them (one features rule each),
    of its own dataset or, for a cross-dataset evaluation, of the target dataset."""
    return [f"results/features/{dataset or run.dataset}/{name}.npy" for name in run.spec.features]


def run_landmark_points(run, dataset=None):
    """The cached 68-point landmarks, when the run's preprocessing emphasises landmark regions."""
    needs = any(step.get("op") == "landmark_emphasis" for step in run.spec.preprocess)
    return [f"results/features/{dataset or run.dataset}/landmarks_points.npy"] if needs else []


def cross_target_of(wildcards):
    """The cross-dataset target of an evaluate_cross job, checked against the run matrix."""
    run = run_of(wildcards)
    if wildcards.target not in run.cross_targets:
        raise ValueError(
            f"{run.run_dir} is not cross-evaluated on {wildcards.target!r} (its targets: {list(run.cross_targets)})"
        )
    return wildcards.target


def all_run_dirs():
    return [run.run_dir for run in RUNS]


def all_metrics():
    return [f"{run.run_dir}/metrics.json" for run in RUNS]


def all_metrics_files():
    """One flat metrics file per run, results/metrics/<paper>/<experiment>/<dataset>/seed<k>.json: `dvc
    metrics show` prints one row per run (dvc.yaml `metrics:`)."""
    return [f"results/metrics/{run.paper}/{run.experiment}/{run.dataset}/seed{run.seed}.json" for run in RUNS]


def all_features():
    names = ("hog", "sliding_hog", "landmarks")
    return [f"results/features/{d}/{n}.npy" for d in config.get("features", {}).get("datasets", []) for n in names]


def feature_params(name):
    """A feature's config block as JSON (a param, so changing it reruns only that feature)."""
    return json.dumps(config.get("features", {}).get(name, {}) or {}, sort_keys=True)


def all_audits():
    """One leakage audit per split list that some run uses."""
    return sorted(
        {run.split_file.replace("results/splits/", "results/audit/").replace(".csv", ".json") for run in RUNS}
    )


# dvc.yaml declares these folders as outputs of its one stage; a config that computes no features (or
# audits) must still leave them in place for `dvc repro`/`dvc commit`.
for _folder in ("results/features", "results/audit"):
    Path(_folder).mkdir(parents=True, exist_ok=True)


def all_cross_metrics():
    """metrics.json of every cross-dataset evaluation (train on the run's dataset, test on a target)."""
    return [f"{run.run_dir}/cross/{target}/metrics.json" for run in RUNS for target in run.cross_targets]


def synthetic_params(name):
    """The generator settings of a synthetic dataset (`synthetic` or `synthetic_shift` in config.yaml)."""
    if name not in config:
        raise ValueError(f"config has no `{name}:` block, so results/decoded/{name} cannot be rendered")
    return config[name]


# --- reporting helpers (issue 6: workflow/rules/analysis.smk and report.smk) ---


def beside(files, name):
    """The file `name` in the folder of each metrics.json (its predictions, say)."""
    return [str(Path(f).with_name(name)) for f in files]


def evaluated():
    """metrics.json of every evaluation: in-domain and cross-dataset."""
    return all_metrics() + all_cross_metrics()


def all_robustness():
    """robustness.json of every run whose experiment sets `robustness: true` (a matrix key, not a training
    setting: switching it on adds robustness jobs without retraining)."""
    return [f"{run.run_dir}/robustness.json" for run in RUNS if run.robustness]


RUN_FILES = (
    "model.pt",
    "history.csv",
    "train_summary.json",
    "metrics.json",
    "predictions.parquet",
    "confusion_matrix.png",
    "learning_curve.png",
)
CROSS_FILES = ("metrics.json", "predictions.parquet", "confusion_matrix.png")
TABLES = (
    "results/summary.md",
    "results/summary.csv",
    "results/experiments.md",
    "results/claims.md",
    "results/claims.csv",
    "results/claims.png",
    "results/comparisons.md",
    "results/leaky_vs_proper.png",
    "results/per_class.md",
    "results/efficiency.md",
    "results/robustness.md",
    "results/plots",
)


def final_outputs():
    """The default target's inputs: EVERY file of every run, not only the tables built from them.

    Snakemake does not rebuild a missing intermediate file when the files after it look up to date, so
    a training killed after a config change (its outputs removed) or a deleted metrics.json would
    otherwise leave the old run's numbers in the tables. Asking for each file closes that hole.
    """
    files = [f"{run.run_dir}/{name}" for run in RUNS for name in RUN_FILES]
    files += [f"{run.run_dir}/cross/{t}/{name}" for run in RUNS for t in run.cross_targets for name in CROSS_FILES]
    return files + all_robustness() + all_features() + all_audits() + list(TABLES)
