"""What a run's model sees: decoded dataset + split list -> model-ready arrays per split.

Kept apart from the LightningDataModule (``ferrepro.training.datamodule``) so that evaluation, which
needs these arrays but no Trainer, does not pay for importing Lightning (~5 s of CPU per job).

``prepare_run_arrays`` is the one place that decides what a run's model sees, and both training and
evaluation call it, so they cannot disagree:

1. the split list picks the rows of each split (never anything else);
2. rows whose fused feature vector is incomplete (NaN, e.g. no face for the landmark detector) follow
   the spec's ``missing_features`` (default ``{train: exclude, evaluate: impute}``): training rows are
   excluded and listed; validation and test rows are kept, their missing values filled with the
   per-column mean of the complete rows of the TRAINING split (no information from validation or test),
   and flagged (``SplitArrays.imputed``), so the test set never loses its hardest faces and runs with and
   without features score the same images. Training and evaluation get the same fill values because both
   compute them here, from the same split list;
3. the paper's preprocessing pipeline (``preprocess``: gamma, smoothing, channel decomposition...) runs
   on each image independently, then the model's input size and channels are applied;
4. the training split may be subsampled to at most ``train_per_class`` samples per class;
5. class balancing (``balance``) runs on the training split only, unless the experiment explicitly asks
   for the ``leaky`` order (balance the whole pool, then split), which is always labelled as such.

Images are converted once, at setup, from the memory-mapped decoded array; training batches are then
slices of an in-memory tensor.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ferrepro.data.splits import SPLITS, read_split
from ferrepro.data.standard import load_decoded
from ferrepro.labels import encode, label_set
from ferrepro.runspec import InputSettings, MissingFeatures, RunSpec
from ferrepro.training.inputs import to_model_input


class SplitArrays:
    """Model-ready arrays of one split: x (N x C x H x W float32), y (N int64), sample ids, and the
    handcrafted feature matrix (N x D float32) when the run fuses features, else None.

    ``excluded`` lists the samples left out because a feature row is missing, ``excluded_labels``
    counts (per label) the samples of classes outside the run's label set (e.g. neutral in a 6-class
    experiment); both are reported in the run's summary and metrics, never dropped silently.
    ``imputed`` (N bools) flags the kept rows whose missing feature values were filled from the training
    split (``missing_features``); all False without fused features. ``fill_values`` (set by
    ``load_split_arrays``) are the per-column values that filled them, from the training split.
    """

    fill_values: np.ndarray | None = None

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        sample_ids: np.ndarray,
        features: np.ndarray | None = None,
        excluded: list[str] | None = None,
        excluded_labels: dict[str, int] | None = None,
        imputed: np.ndarray | None = None,
    ):
        self.x, self.y, self.sample_ids, self.features = x, y, np.asarray(sample_ids), features
        self.excluded = excluded or []
        self.excluded_labels = excluded_labels or {}
        self.imputed = np.zeros(len(y), dtype=bool) if imputed is None else np.asarray(imputed, dtype=bool)
        if len(self.imputed) != len(y):
            raise ValueError(f"imputed flags {len(self.imputed)} rows, the split has {len(y)}")

    @property
    def imputed_ids(self) -> list[str]:
        return [str(s) for s in self.sample_ids[self.imputed]]

    def take(self, index: np.ndarray) -> SplitArrays:
        f = None if self.features is None else self.features[index]
        return SplitArrays(
            self.x[index],
            self.y[index],
            self.sample_ids[index],
            f,
            self.excluded,
            self.excluded_labels,
            self.imputed[index],
        )

    def tensors(self) -> tuple:
        parts = [torch.from_numpy(np.ascontiguousarray(self.x))]
        if self.features is not None:
            parts.append(torch.from_numpy(np.ascontiguousarray(self.features)))
        return (*parts, torch.from_numpy(self.y))


def load_feature_matrix(feature_files: list[str | Path], n_samples: int) -> np.ndarray | None:
    """Concatenate cached feature arrays (each N x D_i, rows in decoded order) into N x sum(D_i)."""
    if not feature_files:
        return None
    arrays = []
    for path in feature_files:
        a = np.load(path, mmap_mode="r")
        if a.ndim != 2 or len(a) != n_samples:
            raise ValueError(
                f"{path}: expected {n_samples} x D features (one row per decoded sample), got {a.shape}; "
                "the feature cache is stale: rerun its features rule"
            )
        arrays.append(a)
    return np.concatenate([np.asarray(a, dtype=np.float32) for a in arrays], axis=1)


def training_fill_values(train_features: np.ndarray) -> np.ndarray:
    """Per-column mean (float32) of the complete rows of the TRAINING split's feature matrix: the values that
    replace a missing feature in any split. Rows with a NaN anywhere do not contribute."""
    complete = train_features[~np.isnan(train_features).any(axis=1)]
    if len(complete) == 0:
        raise ValueError(
            "missing_features impute: no training row has a complete feature vector, so there is "
            "nothing to fill missing values from; check the feature cache (e.g. landmarks all NaN)"
        )
    return complete.mean(axis=0, dtype=np.float64).astype(np.float32)


def images_for_model(
    images: np.ndarray, input_spec: InputSettings, preprocess, points: np.ndarray | None
) -> np.ndarray:
    """N x C x size x size float32 model input of decoded uint8 images: the run's ``preprocess`` steps, then
    ``to_model_input`` (resize, channels, [0, 1]). Training and ``ferrepro predict`` both go through it."""
    if preprocess:
        from ferrepro.features.preprocess import apply_pipeline

        images = apply_pipeline(images, preprocess, landmarks=points)  # float32 in [0, 1]
    return to_model_input(images, input_spec.size, input_spec.channels)


def load_split_arrays(
    decoded_dir: str | Path,
    split_csv: str | Path | None,
    input_spec: InputSettings,
    classes: tuple[str, ...],
    feature_files: list[str | Path] | None = None,
    preprocess=(),
    landmarks_points: str | Path | None = None,
    missing_features: MissingFeatures | None = None,
) -> dict[str, SplitArrays]:
    """Model-ready arrays per split. ``split_csv=None`` puts the whole dataset into ``test`` (a
    cross-dataset evaluation: a model trained elsewhere is tested on every sample).

    ``missing_features`` (the run spec's; None: the defaults) says, for the training split (``train``) and for
    validation and test (``evaluate``), whether a row with a NaN feature is excluded or imputed; imputed
    values are the per-column means of the complete training rows (``training_fill_values``), taken after
    the label-set filter and before any subsampling or balancing. Without a training split (a cross-dataset
    evaluation) there is nothing to impute from, and such rows are excluded (listed, as always).
    """
    policy = (missing_features or MissingFeatures()).policy()
    ds = load_decoded(decoded_dir)
    features = load_feature_matrix(list(feature_files or []), ds.n)
    points = np.load(landmarks_points, mmap_mode="r") if landmarks_points else None
    all_labels = ds.samples["label"].astype(str).to_numpy()
    sample_ids = ds.samples["sample_id"].astype(str).to_numpy()
    if split_csv is None:
        selection = {"test": sample_ids}
    else:
        split = read_split(split_csv)
        selection = {name: split.loc[split["split"] == name, "sample_id"].astype(str).to_numpy() for name in SPLITS}
    position = {sid: i for i, sid in enumerate(sample_ids)}
    unknown = [sid for ids in selection.values() for sid in ids if sid not in position]
    if unknown:
        raise ValueError(
            f"{split_csv}: {len(unknown)} sample ids are not in {decoded_dir}, e.g. {unknown[:3]}; "
            "the split list is stale: delete it and rerun the split rule"
        )
    wanted = set(classes)
    chosen = {}
    for name, ids in selection.items():
        rows = np.array([position[s] for s in ids], dtype=np.int64)
        in_set = np.isin(all_labels[rows], list(wanted))
        left_out = dict(sorted(Counter(all_labels[rows][~in_set].tolist()).items()))
        chosen[name] = (rows[in_set], ids[in_set], left_out)
    fill = None
    if features is not None and "train" in chosen:
        needs_fill = any(policy["train" if name == "train" else "evaluate"] == "impute" for name in chosen)
        fill = training_fill_values(features[chosen["train"][0]]) if needs_fill else None
    out = {}
    for name, (rows, ids, left_out) in chosen.items():
        excluded: list[str] = []
        f = None
        imputed = np.zeros(len(rows), dtype=bool)
        if features is not None:
            f = features[rows]  # a copy (fancy indexing): filling it leaves the cache untouched
            missing = np.isnan(f).any(axis=1)
            action = policy["train" if name == "train" else "evaluate"]
            if action == "impute" and fill is not None:
                f[missing] = np.where(np.isnan(f[missing]), fill, f[missing])
                imputed = missing
            else:
                excluded = [str(s) for s in ids[missing]]
                rows, ids, f, imputed = rows[~missing], ids[~missing], f[~missing], imputed[~missing]
        x = images_for_model(ds.images[rows], input_spec, preprocess, None if points is None else points[rows])
        out[name] = SplitArrays(x, encode(all_labels[rows], classes), ids, f, excluded, left_out, imputed)
        out[name].fill_values = fill
    return out


def subsample_per_class(train: SplitArrays, per_class: int, seed: int) -> tuple[SplitArrays, dict]:
    """At most ``per_class`` training samples of each class (nauman2025's 1000/5000 per label), seeded.

    A class with fewer samples keeps all of them; the report says which classes fell short.
    """
    rng = np.random.default_rng([seed, per_class])
    keep = []
    short = {}
    for c in np.unique(train.y):
        rows = np.flatnonzero(train.y == c)
        if len(rows) < per_class:
            short[int(c)] = int(len(rows))
        keep.append(np.sort(rng.choice(rows, size=min(per_class, len(rows)), replace=False)))
    index = np.sort(np.concatenate(keep))
    return train.take(index), {
        "per_class": per_class,
        "n_before": int(len(train.y)),
        "n_after": int(len(index)),
        "classes_with_fewer": short,
    }


def balance_train(train: SplitArrays, method: str, seed: int) -> tuple[SplitArrays, dict]:
    """Balance the training split only: validation and test never see a copy or a synthetic sample."""
    from ferrepro.training.balance import balance_train_indices, smote_train

    index = np.arange(len(train.y))
    if method == "oversample":
        new_index, report = balance_train_indices(train.y, index, "oversample", seed)
        return train.take(new_index), report
    if method == "smote":
        if train.features is not None:
            raise ValueError(
                "balance.method smote with fused features is not supported: SMOTE would have to invent "
                "feature vectors too; use oversample"
            )
        res = smote_train(train.x.reshape(len(train.x), -1), train.y, index, seed, representation="flattened_pixels")
        n_new = len(res.y) - len(train.y)
        ids = np.concatenate([train.sample_ids, np.array([f"smote_{i}" for i in range(n_new)], dtype=object)])
        x = res.X.reshape((len(res.y),) + train.x.shape[1:]).astype(np.float32)
        return SplitArrays(x, res.y.astype(np.int64), ids, None, train.excluded, train.excluded_labels), res.report
    raise ValueError(f"unknown balance.method {method!r}; expected none, oversample or smote")


def _pool(arrays: dict[str, SplitArrays]) -> SplitArrays:
    parts = [arrays[s] for s in SPLITS]
    features = None if parts[0].features is None else np.concatenate([a.features for a in parts])
    return SplitArrays(
        np.concatenate([a.x for a in parts]),
        np.concatenate([a.y for a in parts]),
        np.concatenate([a.sample_ids for a in parts]),
        features,
        [e for a in parts for e in a.excluded],
        dict(sum((Counter(a.excluded_labels) for a in parts), Counter())),
        np.concatenate([a.imputed for a in parts]),
    )


def augmented_copies(x: np.ndarray, policy, seed: int, batch_size: int = 256) -> np.ndarray:
    """One augmented copy of every image (float N x C x H x W in [0, 1]), with the paper's policy and a
    seeded generator: offline augmentation, as a Keras ImageDataGenerator run over a folder does."""
    from ferrepro.training.augment import build_augmentation

    augment = build_augmentation(policy)
    if policy in (None, "none") or augment.spec.is_identity:
        raise ValueError("balance.method augment needs the run's `augmentation` policy (it is none)")
    generator = torch.Generator().manual_seed(int(seed))
    out = np.empty_like(x)
    for i in range(0, len(x), batch_size):
        out[i : i + batch_size] = augment(
            torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])), generator=generator
        ).numpy()
    return out


def _copy_pixels(pool: SplitArrays, origin: np.ndarray, copy: np.ndarray, policy, seed: int) -> np.ndarray:
    """Pixels of an enlarged pool: copy 0 is the image itself, copy k >= 1 its k-th augmented version."""
    x = pool.x[origin]
    for k in np.unique(copy[copy > 0]):
        rows = np.flatnonzero(copy == k)
        x[rows] = augmented_copies(x[rows], policy, seed + int(k))
    return x


def leaky_resplit(
    arrays: dict[str, SplitArrays],
    method: str,
    fractions,
    seed: int,
    per_class: int | None = None,
    augmentation=None,
    copies: int = 1,
) -> tuple[dict[str, SplitArrays], dict]:
    """LEAKY (opt-in, for the leakage study): balance or augment the whole pool, then split it.

    Reproduces the order afzaal2025 and nauman2025 appear to use. Copies of one image (duplicates or
    augmented versions, with the cached features of their original) or SMOTE points interpolated from
    training images end up in validation and test; the report counts them. With ``per_class`` the pool is
    first cut to that many images per label (nauman2025's "1000 images per label" drawn from the whole
    dataset), so the order is: subsample, enlarge, split.
    """
    from ferrepro.training.balance import leaky_balance_then_split

    pool = _pool(arrays)
    report: dict = {}
    if per_class:
        pool, report["pool_subsample"] = subsample_per_class(pool, int(per_class), seed)
    if method == "smote" and pool.features is not None:
        raise ValueError(
            "leaky SMOTE with fused features is not supported: SMOTE would have to invent feature "
            "vectors too; use oversample or augment"
        )
    leaky_method = "augment_copies" if method == "augment" else method
    leaky = leaky_balance_then_split(
        pool.y,
        leaky_method,
        tuple(fractions),
        seed,
        copies=copies,
        X=pool.x.reshape(len(pool.x), -1) if method == "smote" else None,
    )
    features = None
    origin = np.asarray(leaky.origin)
    imputed = (origin >= 0) & pool.imputed[np.maximum(origin, 0)]  # SMOTE points (origin -1): never
    if method == "smote":
        x_pool = leaky.X.reshape((len(leaky.label),) + pool.x.shape[1:]).astype(np.float32)
        id_pool = np.array(
            [pool.sample_ids[o] if o >= 0 else f"smote_{r}" for r, o in enumerate(leaky.origin)], dtype=object
        )
    else:
        x_pool = (
            _copy_pixels(pool, leaky.origin, leaky.copy, augmentation, seed)
            if method == "augment"
            else pool.x[leaky.origin]
        )
        suffix = "aug" if method == "augment" else "copy"
        id_pool = np.array(
            [
                f"{pool.sample_ids[o]}#{suffix}{c}" if c else pool.sample_ids[o]
                for o, c in zip(leaky.origin, leaky.copy)
            ],
            dtype=object,
        )
        features = None if pool.features is None else pool.features[leaky.origin]
    out = {}
    for s in SPLITS:
        rows = leaky.rows(s)
        out[s] = SplitArrays(
            x_pool[rows],
            leaky.label[rows].astype(np.int64),
            id_pool[rows],
            None if features is None else features[rows],
            pool.excluded,
            pool.excluded_labels,
            imputed[rows],
        )
    return out, dict(report, **leaky.report)


def augment_train(train: SplitArrays, augmentation, copies: int, seed: int) -> tuple[SplitArrays, dict]:
    """Proper offline augmentation: ``copies`` augmented versions of every TRAINING image (and only those)."""
    n = len(train.y)
    origin = np.tile(np.arange(n), copies + 1)
    copy = np.repeat(np.arange(copies + 1), n)
    x = _copy_pixels(train, origin, copy, augmentation, seed)
    ids = np.array(
        [f"{train.sample_ids[o]}#aug{c}" if c else train.sample_ids[o] for o, c in zip(origin, copy)], dtype=object
    )
    f = None if train.features is None else train.features[origin]
    report = {
        "method": "augment",
        "seed": int(seed),
        "leaky": False,
        "scope": "train split only",
        "copies": int(copies),
        "n_before": int(n),
        "n_after": int(len(origin)),
    }
    return SplitArrays(x, train.y[origin], ids, f, train.excluded, train.excluded_labels, train.imputed[origin]), report


def prepare_run_arrays(
    spec: RunSpec,
    decoded_dir: str | Path,
    split_csv: str | Path,
    feature_files: list[str] | None = None,
    landmarks_points: str | Path | None = None,
) -> tuple[dict[str, SplitArrays], dict]:
    """Everything a run's model sees, per split, plus the balancing report (see the module docstring)."""
    classes = label_set(spec.label_set)
    balance = spec.balance
    method = balance.method
    leaky = method != "none" and balance.order == "leaky"
    policy = spec.missing_features
    # LEAKY order: the whole pool is split after loading, so any row may become a training row: the
    # training rule applies to every split of the split list (imputed rows never enter training unasked).
    load_policy = replace(policy, evaluate=policy.train) if leaky else policy
    if split_csv is None:  # a cross-dataset evaluation: no training split to fill from
        load_policy = replace(load_policy, evaluate="exclude")
    arrays = load_split_arrays(
        decoded_dir, split_csv, spec.input, classes, feature_files, spec.preprocess, landmarks_points, load_policy
    )
    report: dict = {"excluded_labels": {k: a.excluded_labels for k, a in arrays.items()}}
    missing = None
    if feature_files:
        fill = next(iter(arrays.values())).fill_values
        # The identity of the fill vector: training's train_summary.json and evaluation's metrics.json must agree.
        missing = {
            **policy.policy(),
            "applied": load_policy.policy(),
            "fill_sha256": None if fill is None else hashlib.sha256(fill.tobytes()).hexdigest()[:16],
        }
    seed = int(spec.seed)
    if leaky:
        arrays, leaky_report = leaky_resplit(
            arrays,
            method,
            balance.fractions,
            seed,
            per_class=spec.train_per_class,
            augmentation=spec.augmentation,
            copies=int(balance.copies),
        )
        return arrays, _with_missing(dict(report, **leaky_report), missing, arrays)
    if spec.train_per_class:
        arrays["train"], report["train_subsample"] = subsample_per_class(
            arrays["train"], int(spec.train_per_class), seed
        )
    if method == "none":
        return arrays, _with_missing(dict(report, method="none", leaky=False), missing, arrays)
    if method == "augment":
        arrays["train"], balance_report = augment_train(arrays["train"], spec.augmentation, int(balance.copies), seed)
    else:
        arrays["train"], balance_report = balance_train(arrays["train"], method, seed)
    return arrays, _with_missing(dict(report, **balance_report), missing, arrays)


def _with_missing(report: dict, missing: dict | None, arrays: dict[str, SplitArrays]) -> dict:
    """The report plus ``missing_features``: the policy, the policy applied when loading (they differ in
    the leaky order and in a cross-dataset evaluation), the fill and its digest, and per split how many rows
    were excluded and how many imputed (in the final arrays,
    i.e. after subsampling and balancing of the training split)."""
    if missing is None:
        return report
    fill = (
        "per-column mean of the complete rows of the split list's training split"
        if "impute" in missing["applied"].values() and "train" in arrays
        else None
    )
    return dict(
        report,
        missing_features=dict(
            missing,
            fill=fill,
            excluded={k: len(a.excluded) for k, a in arrays.items()},
            imputed={k: int(a.imputed.sum()) for k, a in arrays.items()},
        ),
    )
