"""Decode speed: FER2013 CSV (fast path vs a naive per-row pandas parse) and image folders.

    PYTHONPATH=src .venv/bin/python bench/bench_decode.py [--fer2013-tar PATH] [--out bench/results/decode.json]

Measures (wall and process-CPU seconds, median of ``--repeats`` runs after a warm-up):

- ``csv_fast``: ``ferrepro.data.decoders.fer2013_csv.read_fer2013_csv`` on a 35,887-row
  ``fer2013.csv`` (pyarrow CSV read + the vectorised byte-level pixel parser), and the whole
  ``decode_dataset`` call (count check, ``write_decoded``);
- ``csv_naive``: ``pd.read_csv`` + ``pixels.str.split(' ', expand=True).astype(uint8)``, the usual
  notebook code, run once (it takes tens of seconds);
- ``image_folders``: ``decode_dataset`` on the Kaggle image-folder layout. With ``--fer2013-tar``
  the real tar is extracted into a temporary folder outside the repository (extraction timed
  separately) and decoded with the official count check on; without it, 35,887 random 48x48
  JPEGs are written in the same layout into a temporary folder.

The CSV is always generated (random pixels, the real label/usage proportions do not matter for
speed) in a temporary folder: the real fer2013.csv is not shared with the project. Targets
(issue 3): CSV <= 3 s on 2 cores and >= 10x faster than the naive parse; images <= 20 s. The
machine may be shared, so the load average before and after is recorded with the numbers.
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
    return {"wall_s_median": round(statistics.median(wall), 3), "wall_s_min": round(min(wall), 3),
            "cpu_s_median": round(statistics.median(cpu), 3), "runs": len(wall)}


def once(fn) -> tuple[dict, object]:
    c, t = time.process_time(), time.perf_counter()
    result = fn()
    return {"wall_s": round(time.perf_counter() - t, 3), "cpu_s": round(time.process_time() - c, 3)}, result


def make_csv(folder: Path, n_rows: int) -> Path:
    from ferrepro.data.decoders.fer2013_csv import write_fer2013_csv

    rng = np.random.default_rng(0)
    usage = np.array(["Training"] * 28709 + ["PublicTest"] * 3589 + ["PrivateTest"] * 3589)[:n_rows]
    usage = np.resize(usage, n_rows)
    return write_fer2013_csv(folder / "fer2013.csv", rng.integers(0, 7, n_rows), rng.integers(0, 256, (n_rows, 48, 48), dtype=np.uint8), usage)


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


def bench_csv(tmp: Path, n_rows: int, repeats: int, skip_naive: bool) -> dict:
    from ferrepro.data.decode import decode_dataset
    from ferrepro.data.decoders.common import DecodeContext
    from ferrepro.data.decoders.fer2013_csv import naive_parse, read_fer2013_csv
    from ferrepro.data.registry import load_registry
    from ferrepro.labels import BASIC7

    raw = tmp / "csv"
    raw.mkdir()
    gen, path = once(lambda: make_csv(raw, n_rows))
    registry = load_registry(ROOT / "config" / "datasets.yaml")
    spec = registry["fer2013"]
    ctx = DecodeContext(spec=spec, layout=spec.layout("fer2013_csv"), root=raw, classes=BASIC7, workers=os.cpu_count() or 1)
    fast = timed(lambda: read_fer2013_csv(path, ctx), repeats)
    rows = read_fer2013_csv(path, ctx)
    assert rows.pixels_ok.all() and len(rows.lines) == n_rows
    end_to_end = timed(lambda: decode_dataset("fer2013", raw, tmp / "csv_out", registry, check_counts=False), repeats)
    out = {"rows": n_rows, "file_mb": round(path.stat().st_size / 2**20, 1), "generate_s": gen["wall_s"],
           "fast_parse": fast, "fast_decode_dataset": end_to_end}
    if not skip_naive:
        naive, naive_pixels = once(lambda: naive_parse(path))
        np.testing.assert_array_equal(naive_pixels.reshape(n_rows, -1), rows.pixels)  # same numbers
        out["naive_pandas_split"] = naive
        out["speedup_naive_over_fast_parse"] = round(naive["wall_s"] / fast["wall_s_median"], 1)
        out["speedup_naive_over_fast_decode"] = round(naive["wall_s"] / end_to_end["wall_s_median"], 1)
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
    return {"source": source, "prepare_s": prep["wall_s"], "decode_dataset": decode, "n_samples": report["n_samples"],
            "count_check": report["count_check"]["status"], "target_s": 20.0, "meets_20s_target": decode["wall_s_median"] <= 20.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fer2013-tar", type=Path, default=None, help="the Kaggle image-folder tar (real data)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "decode.json")
    p.add_argument("--rows", type=int, default=N_ROWS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-naive", action="store_true", help="skip the slow naive pandas parse")
    a = p.parse_args(argv)
    import cv2
    import pandas as pd
    import pyarrow

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "pandas": pd.__version__, "pyarrow": pyarrow.__version__, "opencv": cv2.__version__,
                    "load_avg_before": os.getloadavg()},
    }
    with tempfile.TemporaryDirectory(prefix="ferrepro-bench-decode-") as tmp:
        result["fer2013_csv"] = bench_csv(Path(tmp), a.rows, a.repeats, a.skip_naive)
        result["image_folders"] = bench_images(Path(tmp), a.fer2013_tar, a.repeats)
    result["machine"]["load_avg_after"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
