from pathlib import Path

import numpy as np
import pytest

from ferrepro.data.standard import load_decoded
from ferrepro.data.synthetic import SyntheticSpec, generate, write_synthetic
from ferrepro.labels import BASIC7


def test_same_seed_gives_identical_images_and_table():
    spec = SyntheticSpec(n_subjects=3, images_per_subject_per_class=2, size=48, seed=11)
    a_img, a_tab = generate(spec)
    b_img, b_tab = generate(spec)
    assert np.array_equal(a_img, b_img)
    assert a_tab.equals(b_tab)


def test_different_seed_changes_images():
    a, _ = generate(SyntheticSpec(n_subjects=3, images_per_subject_per_class=1, size=48, seed=1))
    b, _ = generate(SyntheticSpec(n_subjects=3, images_per_subject_per_class=1, size=48, seed=2))
    assert not np.array_equal(a, b)


def test_an_image_does_not_change_when_the_dataset_grows():
    small_img, small_tab = generate(SyntheticSpec(n_subjects=3, images_per_subject_per_class=1, size=48, seed=5))
    big_img, big_tab = generate(SyntheticSpec(n_subjects=5, images_per_subject_per_class=2, size=48, seed=5))
    for i, sid in enumerate(small_tab["sample_id"]):
        j = big_tab.index[big_tab["sample_id"] == sid][0]
        assert np.array_equal(small_img[i], big_img[j])


def test_layout_counts_and_standard_format(tmp_path):
    spec = SyntheticSpec(n_subjects=4, images_per_subject_per_class=3, size=64, seed=3)
    write_synthetic(spec, tmp_path / "syn", preview=tmp_path / "preview.png")
    ds = load_decoded(tmp_path / "syn")
    assert ds.images.shape == (4 * 7 * 3, 64, 64, 3) and ds.images.dtype == np.uint8
    assert set(ds.samples["label"]) == set(BASIC7)
    assert ds.samples["subject_id"].nunique() == 4
    assert (ds.samples.groupby("label").size() == 4 * 3).all()
    assert ds.report["n_samples"] == len(ds.samples)
    assert (tmp_path / "preview.png").stat().st_size > 0


def test_classes_differ_on_average():
    # Expressions are drawn from different prototypes: the class-mean images must not coincide.
    images, table = generate(SyntheticSpec(n_subjects=6, images_per_subject_per_class=3, size=48, seed=9))
    means = np.stack([images[table["label"].to_numpy() == c].astype(float).mean(0) for c in BASIC7])
    gaps = [np.abs(means[i] - means[j]).mean() for i in range(7) for j in range(i + 1, 7)]
    assert min(gaps) > 0.1


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_subjects=2),
        dict(images_per_subject_per_class=0),
        dict(size=16),
        dict(class_proportions={"digust": 0.5}),
        dict(class_proportions={"happy": 0}),
        dict(class_proportions={"sad": 1.5}),
    ],
)
def test_invalid_spec_is_refused(kwargs):
    with pytest.raises(ValueError, match="synthetic"):
        SyntheticSpec(**kwargs)


def test_class_proportions_make_the_classes_imbalanced_without_changing_kept_images():
    balanced_img, balanced_tab = generate(SyntheticSpec(n_subjects=3, images_per_subject_per_class=5, size=48, seed=4))
    spec = SyntheticSpec(
        n_subjects=3,
        images_per_subject_per_class=5,
        size=48,
        seed=4,
        class_proportions={"disgust": 0.2, "surprise": 0.6, "fear": 0.01},
    )
    img, tab = generate(spec)
    counts = tab.groupby("label").size()
    # round(5 * 0.2) = 1, round(5 * 0.6) = 3, fear rounds to 0 but keeps one per subject, the rest keep 5.
    assert counts["disgust"] == 3 and counts["surprise"] == 9 and counts["fear"] == 3
    assert (counts.drop(["disgust", "surprise", "fear"]) == 15).all()
    assert len(img) == len(tab) == int(counts.sum())
    assert tab.groupby("label")["subject_id"].nunique().eq(3).all()
    for i, sid in enumerate(tab["sample_id"]):
        j = balanced_tab.index[balanced_tab["sample_id"] == sid][0]
        assert np.array_equal(img[i], balanced_img[j])


def test_default_config_is_imbalanced_and_valid():
    import yaml

    from ferrepro.data.synthetic import spec_from_params

    with open(Path(__file__).resolve().parents[1] / "config" / "config.yaml") as fh:
        spec = spec_from_params(yaml.safe_load(fh)["synthetic"])
    per_subject = {label: spec.images_for(label) for label in BASIC7}
    assert max(per_subject.values()) >= 3 * min(per_subject.values())
