"""Decode speed: FER2013 CSV (fast path vs a naive per-row pandas parse) and image folders.

    PYTHONPATH=src .venv/bin/python bench/bench_decode.py [--fer2013-tar PATH] [--csv-from-decoded DIR]
        [--out bench/results/decode.json]

Measures (wall and process-CPU seconds, median of ``--repeats`` runs after a warm-up):

- ``csv_fast``: ``ferrepro.data.decoders.fer2013_csv.read_fer2013_csv`` on a 35,887-row
  ``fer2013.csv`` (pyarrow CSV read + the vectorised byte-level pixel parser), and the whole
  ``decode_dataset`` call (count check, ``write_decoded``);
- two naive pandas parses, each run once (they take tens of seconds): ``naive_pandas_split``
  (``pd.read_csv`` + ``pixels.str.split(' ', expand=True).astype(uint8)``) and
  ``naive_per_row`` (``pd.read_csv`` + ``np.asarray([int(p) for p in s.split(' ')])`` per row, the
  usual notebook code); both must give the same pixels as the fast path;
- ``image_folders``: ``decode_dataset`` on the Kaggle image-folder layout. With ``--fer2013-tar``
  the real tar is extracted into a temporary folder outside the repository (extraction timed
  separately) and decoded with the official count check on, and the whole real code path
  (sha256 of the tar, safe extraction, decode) is timed once with the tar as the raw folder;
  without it, 35,887 random 48x48 JPEGs are written in the same layout into a temporary folder.

The real fer2013.csv is not shared with the project. With ``--fer2013-tar`` (or
``--csv-from-decoded`` naming a decoded FER2013 folder) the CSV is built in the official format
from the real decoded images (rows ordered Training, PublicTest, PrivateTest; emotion codes
0=angry..6=neutral), so it has the real size, the real grey-level statistics and the official
counts (the end-to-end CSV decode then runs with the count check on); otherwise it is generated
from random pixels. Either way it lives in a temporary folder that is deleted afterwards. Targets
(issue 3): CSV <= 3 s on 2 cores and >= 10x faster than the naive per-row parse; images <= 20 s.
The machine may be shared, so the load average before and after is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

N_ROWS = 35887


def timed(fn, repeats: int) -> dict:
    fn()  # warm-up: imports, page cache
    wall, cpu = [], []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "wall_s_median": round(statistics.median(wall), 3),
        "wall_s_min": round(min(wall), 3),
        "cpu_s_median": round(statistics.median(cpu), 3),
        "runs": len(wall),
    }


def once(fn) -> tuple[dict, object]:
    c, t = time.process_time(), time.perf_counter()
    result = fn()
    return {"wall_s": round(time.perf_counter() - t, 3), "cpu_s": round(time.process_time() - c, 3)}, result


def make_csv(folder: Path, n_rows: int) -> Path:
    from ferrepro.data.decoders.fer2013_csv import write_fer2013_csv

    rng = np.random.default_rng(0)
    usage = np.array(["Training"] * 28709 + ["PublicTest"] * 3589 + ["PrivateTest"] * 3589)[:n_rows]
    usage = np.resize(usage, n_rows)
    return write_fer2013_csv(
        folder / "fer2013.csv",
        rng.integers(0, 7, n_rows),
        rng.integers(0, 256, (n_rows, 48, 48), dtype=np.uint8),
        usage,
    )


def make_csv_from_decoded(folder: Path, decoded: Path) -> Path:
    """fer2013.csv in the official format from a decoded FER2013 (real pixels, labels, usage)."""
    import pandas as pd

    from ferrepro.data.decoders.fer2013_csv import write_fer2013_csv
    from ferrepro.data.registry import load_registry
    from ferrepro.data.standard import load_decoded

    ds = load_decoded(decoded)
    usage_of = {v: k for k, v in load_registry(ROOT / "config" / "datasets.yaml")["fer2013"].splits.items()}
    codes = {
        v: int(k)
        for k, v in load_registry(ROOT / "config" / "datasets.yaml")["fer2013"].layout("fer2013_csv").label_map.items()
    }
    usage = ds.samples["usage"] if "usage" in ds.samples else ds.samples["split"].map(usage_of)
    rank = pd.Categorical(usage, categories=["Training", "PublicTest", "PrivateTest"], ordered=True).codes
    order = np.argsort(rank, kind="stable")
    labels = ds.samples["label"].map(codes).to_numpy()[order]
    write_fer2013_csv(folder / "fer2013.csv", labels, np.asarray(ds.images)[order], usage.to_numpy()[order])
    return folder / "fer2013.csv", order


def naive_per_row_parse(path: Path) -> np.ndarray:
    """The notebook code: read with pandas, then one Python list of ints per row."""
    import pandas as pd

    frame = pd.read_csv(path)
    frame.columns = [c.strip().lower() for c in frame.columns]
    faces = [np.asarray([int(p) for p in seq.split(" ")], dtype=np.uint8).reshape(48, 48) for seq in frame["pixels"]]
    return np.stack(faces)[..., None]


def make_image_folders(folder: Path, n_images: int) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    classes = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    for k in range(n_images):
        top, prefix = ("train", "Training") if k % 5 < 4 else ("test", "PublicTest" if k % 10 == 4 else "PrivateTest")
        path = folder / top / classes[k % 7] / f"{prefix}_{1000 + k}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return folder


def bench_csv(tmp: Path, n_rows: int, repeats: int, skip_naive: bool, from_decoded: Path | None = None) -> dict:
    from ferrepro.data.decode import decode_dataset
    from ferrepro.data.decoders.common import DecodeContext
    from ferrepro.data.decoders.fer2013_csv import naive_parse, read_fer2013_csv
    from ferrepro.data.registry import load_registry
    from ferrepro.labels import BASIC7

    raw = tmp / "csv"
    raw.mkdir()
    if from_decoded is not None:
        gen, (path, order) = once(lambda: make_csv_from_decoded(raw, from_decoded))
        n_rows, source, check = sum(1 for _ in open(path)) - 1, f"real pixels of {from_decoded}, official order", True
    else:
        gen, path = once(lambda: make_csv(raw, n_rows))
        source, check = "random pixels", False
    registry = load_registry(ROOT / "config" / "datasets.yaml")
    spec = registry["fer2013"]
    ctx = DecodeContext(
        spec=spec, layout=spec.layout("fer2013_csv"), root=raw, classes=BASIC7, workers=os.cpu_count() or 1
    )
    fast = timed(lambda: read_fer2013_csv(path, ctx), repeats)
    rows = read_fer2013_csv(path, ctx)
    assert rows.pixels_ok.all() and len(rows.lines) == n_rows
    end_to_end = timed(lambda: decode_dataset("fer2013", raw, tmp / "csv_out", registry, check_counts=check), repeats)
    report = json.loads((tmp / "csv_out" / "decode_report.json").read_text())
    if from_decoded is not None:  # the CSV round trip gives back exactly the decoded images
        from ferrepro.data.standard import load_decoded

        np.testing.assert_array_equal(
            rows.pixels, np.asarray(load_decoded(from_decoded).images)[order].reshape(n_rows, -1)
        )
        assert report["count_check"]["status"] == "ok", report["count_check"]
    out = {
        "source": source,
        "rows": n_rows,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "generate_s": gen["wall_s"],
        "workers": ctx.workers,
        "fast_parse": fast,
        "fast_decode_dataset": end_to_end,
        "count_check": report["count_check"]["status"],
    }
    if not skip_naive:
        for key, fn in (("naive_pandas_split", naive_parse), ("naive_per_row", naive_per_row_parse)):
            naive, naive_pixels = once(lambda fn=fn: fn(path))
            np.testing.assert_array_equal(naive_pixels.reshape(n_rows, -1), rows.pixels)  # same numbers
            out[key] = naive
            out[f"speedup_{key}_over_fast_parse"] = round(naive["wall_s"] / fast["wall_s_median"], 1)
            out[f"speedup_{key}_over_fast_decode"] = round(naive["wall_s"] / end_to_end["wall_s_median"], 1)
        out["meets_10x_target"] = out["speedup_naive_per_row_over_fast_parse"] >= 10.0
    out["target_fast_s"] = 3.0
    out["meets_3s_target"] = fast["wall_s_median"] <= 3.0
    return out


def bench_images(tmp: Path, tar: Path | None, repeats: int) -> dict:
    from ferrepro.data.decode import decode_dataset
    from ferrepro.data.registry import load_registry

    registry = load_registry(ROOT / "config" / "datasets.yaml")
    raw = tmp / "images"
    raw.mkdir()
    if tar is not None:

        def extract():
            with tarfile.open(tar) as tf:
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(raw, **kwargs)

        prep, _ = once(extract)
        source, check = f"real tar {tar}", True
    else:
        prep, _ = once(lambda: make_image_folders(raw, N_ROWS))
        source, check = "35,887 random 48x48 JPEGs", False
    decode = timed(lambda: decode_dataset("fer2013", raw, tmp / "img_out", registry, check_counts=check), repeats)
    report = json.loads((tmp / "img_out" / "decode_report.json").read_text())
    out = {
        "source": source,
        "prepare_s": prep["wall_s"],
        "decode_dataset": decode,
        "n_samples": report["n_samples"],
        "images_per_s": round(report["n_samples"] / decode["wall_s_median"]),
        "count_check": report["count_check"]["status"],
        "target_s": 20.0,
        "meets_20s_target": decode["wall_s_median"] <= 20.0,
    }
    if tar is not None:
        # the real code path from the archive: sha256 of the tar, safe extraction, decode, count check
        with tempfile.TemporaryDirectory(prefix="raw-", dir=tmp) as raw_tar:
            link = Path(raw_tar) / tar.name
            link.symlink_to(tar.resolve())
            full, _ = once(lambda: decode_dataset("fer2013", Path(raw_tar), tmp / "tar_out", registry))
        tar_report = json.loads((tmp / "tar_out" / "decode_report.json").read_text())
        out["decode_dataset_from_tar"] = {
            **full,
            "verified_sha256": tar_report["verified_sha256"],
            "count_check": tar_report["count_check"]["status"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fer2013-tar", type=Path, default=None, help="the Kaggle image-folder tar (real data)")
    p.add_argument(
        "--csv-from-decoded",
        type=Path,
        default=None,
        help="a decoded FER2013 folder to build the CSV from (default: the tar's, when --fer2013-tar is given)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "decode.json")
    p.add_argument("--rows", type=int, default=N_ROWS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-naive", action="store_true", help="skip the slow naive pandas parse")
    a = p.parse_args(argv)
    import cv2
    import pandas as pd
    import pyarrow

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "pyarrow": pyarrow.__version__,
            "opencv": cv2.__version__,
            "load_avg_before": os.getloadavg(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="ferrepro-bench-decode-") as tmp:
        result["image_folders"] = bench_images(Path(tmp), a.fer2013_tar, a.repeats)
        from_decoded = a.csv_from_decoded or (Path(tmp) / "img_out" if a.fer2013_tar is not None else None)
        result["fer2013_csv"] = bench_csv(Path(tmp), a.rows, a.repeats, a.skip_naive, from_decoded)
    result["machine"]["load_avg_after"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
