import numpy as np
import pandas as pd
import pytest

from ferrepro.data.standard import DecodedFormatError, load_decoded, write_decoded


def _table(n, **overrides):
    t = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "label": ["happy"] * n,
            "subject_id": [""] * n,
            "source_file": [f"f{i}.png" for i in range(n)],
            "split": ["train"] * n,
        }
    )
    for k, v in overrides.items():
        t[k] = v
    return t


def test_roundtrip_is_memory_mapped(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 1), dtype=np.uint8)
    write_decoded(tmp_path, images, _table(5), {"dataset": "x"})
    ds = load_decoded(tmp_path)
    assert isinstance(ds.images, np.memmap)
    assert np.array_equal(np.asarray(ds.images), images)
    assert ds.report["per_label"] == {"happy": 5}


@pytest.mark.parametrize(
    "images, table, message",
    [
        (np.zeros((3, 8, 8, 1), np.float32), _table(3), "uint8"),
        (np.zeros((3, 8, 8, 2), np.uint8), _table(3), "uint8"),
        (np.zeros((3, 8, 8, 1), np.uint8), _table(2), "2 sample rows but 3 images"),
        (np.zeros((3, 8, 8, 1), np.uint8), _table(3, label=["happy", "joy", "sad"]), "joy"),
        (np.zeros((3, 8, 8, 1), np.uint8), _table(3, sample_id=["a", "a", "b"]), "duplicated"),
        (np.zeros((3, 8, 8, 1), np.uint8), _table(3, split=["train", "valid", "test"]), "valid"),
    ],
)
def test_format_violations_are_named(tmp_path, images, table, message):
    with pytest.raises(DecodedFormatError, match=message):
        write_decoded(tmp_path, images, table, {})


def test_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="decode the dataset first"):
        load_decoded(tmp_path / "nope")
