"""Throughput of the handcrafted features, preprocessing, augmentation and a small CNN's training step.

    PYTHONPATH=src .venv/bin/python bench/bench_features.py [--fer-tar PATH] [--out bench/results/features.json]

Measures (median of ``--repeats`` timed runs after one warm-up; images/s):

- HoG (900-d, 48x48): OpenCV vs scikit-image backends, 1 and 2 threads;
- sliding-window HoG (1296-d): both backends;
- dlib landmarks: 1 process, 2 threads (shows whether dlib releases the GIL), 2 worker processes;
- landmark failure rate on real FER2013 (if the tar is there): the default whole-image box over
  every image (failures = blank images) and dlib's face detector on a subsample ("detect" mode);
- augmentation per policy (batched and per-sample-loop engines) vs the training step (forward,
  backward, SGD) of majeed2025's CNN on the same batch size, on CPU (and CUDA when available).

Data: "synthetic" = smooth random ellipses (48x48 uint8, the test fixtures' kind); "fer2013" = the
Kaggle FER2013 JPEGs, read straight from the tar into memory (nothing is extracted, nothing is
written outside ``--out``). The machine is shared, so load average is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_FER_TAR = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013_kaggle_images.tar"


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished, reaped children (pool workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, n_items: int, repeats: int) -> dict:
    fn()  # warm-up (imports, predictor load, allocator)
    times, cpu = [], []
    for _ in range(repeats):
        c, t = _cpu_seconds(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(_cpu_seconds() - c)
    med, cpu_med = statistics.median(times), statistics.median(cpu)
    # images per CPU-second of this process (all its threads) and of its worker processes (counted
    # once the pool is shut down): on a shared, oversubscribed machine this is closer to the
    # per-core speed than wall-clock throughput.
    return {
        "images_per_s": round(n_items / med, 1),
        "images_per_cpu_s": round(n_items / cpu_med, 1) if cpu_med else None,
        "seconds_median": round(med, 4),
        "repeats": repeats,
        "n": n_items,
    }


def synthetic_images(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        im = np.full((size, size), int(rng.integers(60, 200)), np.uint8)
        for _ in range(6):
            c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
            ax = (int(rng.integers(3, size // 3)), int(rng.integers(3, size // 3)))
            cv2.ellipse(im, c, ax, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(0, 255)), -1)
        out[i, ..., 0] = cv2.GaussianBlur(im, (0, 0), 1.0)
    return out


def read_fer_tar(path: Path, limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Grayscale 48x48 JPEGs from the Kaggle FER2013 tar, decoded in memory."""
    import cv2

    images, names = [], []
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile() or not member.name.lower().endswith((".jpg", ".png")):
                continue
            data = np.frombuffer(tar.extractfile(member).read(), np.uint8)
            img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            images.append(img)
            names.append(member.name)
            if limit and len(images) >= limit:
                break
    return np.stack(images)[..., None], names


def bench_hog(images: np.ndarray, repeats: int) -> dict:
    from ferrepro.features.hog import HogParams, SlidingHogParams, compute_hog

    out: dict = {}
    n = len(images)
    n_sk = min(n, 2000)  # scikit-image is ~10x slower; keep its runs short
    for name, cls in (("hog", HogParams), ("sliding_hog", SlidingHogParams)):
        for backend in ("opencv", "skimage"):
            x = images if backend == "opencv" else images[:n_sk]
            for threads in (1, 2):
                p = cls(backend=backend)
                key = f"{name}/{backend}/threads{threads}"
                out[key] = timed(
                    lambda x=x, p=p, threads=threads: compute_hog(x, p, threads=threads, chunk_size=512),
                    len(x),
                    repeats,
                )
                out[key]["dim"] = int(compute_hog(x[:1], p).shape[1])
    return out


def bench_landmarks(images: np.ndarray, repeats: int) -> dict:
    from ferrepro.features import landmarks as lm

    out: dict = {}
    extractor = lm.LandmarkExtractor()
    out["process1"] = timed(lambda: extractor.extract_batch(images), len(images), repeats)

    def two_threads():
        halves = np.array_split(images, 2)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(extractor.extract_batch, halves))

    out["threads2_same_process"] = timed(two_threads, len(images), repeats)
    out["threads2_same_process"]["note"] = "speed-up over process1 ~1 means dlib holds the GIL"
    # Worker processes pay spawn + predictor load once per call: measure that on 2 images and
    # subtract it to get the steady-state rate of 2 workers.
    startup = timed(lambda: lm.extract_landmarks(images[:2], threads=2), 2, 1)["seconds_median"]
    e2e = timed(lambda: lm.extract_landmarks(images, threads=2), len(images), 1)
    e2e["startup_seconds"] = startup
    e2e["steady_state_images_per_s"] = round(len(images) / max(e2e["seconds_median"] - startup, 1e-9), 1)
    out["processes2"] = e2e
    return out


def landmark_failures(images: np.ndarray, detect_n: int) -> dict:
    from ferrepro.features import landmarks as lm

    t = time.perf_counter()
    whole = lm.extract_landmarks(images, lm.LandmarkParams(), threads=2)
    secs = time.perf_counter() - t
    res = {"whole_image_box": {k: v for k, v in lm.failure_summary(whole).items() if k != "failed_samples"}}
    res["whole_image_box"]["images_per_s_2proc"] = round(len(images) / secs, 1)
    sub = images[:: max(1, len(images) // detect_n)][:detect_n]
    for upsample in (1, 2):
        det = lm.extract_landmarks(sub, lm.LandmarkParams(box="detect", detector_upsample=upsample), threads=2)
        summary = lm.failure_summary(det)
        res[f"detector_upsample{upsample}"] = {k: v for k, v in summary.items() if k != "failed_samples"}
    return res


def bench_augmentation(batch_size: int, repeats: int, device: str) -> dict:
    import torch

    from ferrepro.training.augment import POLICIES, build_augmentation

    torch.manual_seed(0)
    x = torch.rand(batch_size, 1, 48, 48, device=device)
    out: dict = {}

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for policy in sorted(set(POLICIES) - {"none"}):
        for engine in ("batched", "loop"):
            aug = build_augmentation(
                {"policy": policy, "engine": engine, "fill": "zeros" if engine == "loop" else POLICIES[policy].fill}
            )
            g = torch.Generator(device=device if engine == "batched" else "cpu").manual_seed(0)
            steps = 20 if engine == "batched" else 4

            def run(aug=aug, g=g, steps=steps):
                for _ in range(steps):
                    aug(x, generator=g)
                sync()

            out[f"{policy}/{engine}"] = timed(run, steps * batch_size, repeats)

    try:
        from ferrepro.models.majeed2025 import MajeedCNN

        model, model_name = MajeedCNN(num_classes=7, in_channels=1), "majeed2025.MajeedCNN"
    except Exception as exc:  # pragma: no cover - the model module belongs to another stage
        print(f"majeed2025 model unavailable ({exc}); using a small stand-in CNN", file=sys.stderr)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(64 * 12 * 12, 7),
        )
        model_name = "stand-in 2-conv CNN"
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    y = torch.randint(0, 7, (batch_size,), device=device)
    steps = 5

    def train():
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        sync()

    out["training_step"] = timed(train, steps * batch_size, repeats)
    out["training_step"]["model"] = model_name
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "features.json")
    ap.add_argument("--fer-tar", type=Path, default=DEFAULT_FER_TAR)
    ap.add_argument("--n", type=int, default=5000, help="images per HoG measurement")
    ap.add_argument("--n-landmarks", type=int, default=600, help="images per landmark speed measurement")
    ap.add_argument("--detect-n", type=int, default=1500, help="FER2013 images for the detector failure rate")
    ap.add_argument("--no-fer-failure-scan", action="store_true", help="skip the all-images landmark failure scan")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import cv2
    import torch

    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "opencv": cv2.__version__,
            "torch": torch.__version__,
            "load_average_start": os.getloadavg(),
        },
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    datasets = {"synthetic": synthetic_images(args.n)}
    fer_all = None
    if args.fer_tar.exists():
        t = time.perf_counter()
        fer_all, _ = read_fer_tar(args.fer_tar)
        result["fer2013"] = {
            "tar": str(args.fer_tar),
            "n_images": int(len(fer_all)),
            "read_seconds": round(time.perf_counter() - t, 1),
        }
        datasets["fer2013"] = fer_all[:: max(1, len(fer_all) // args.n)][: args.n]
    else:
        result["fer2013"] = {"skipped": f"{args.fer_tar} not found"}

    for name, images in datasets.items():
        print(f"[bench] HoG on {name} ({len(images)} images)", file=sys.stderr, flush=True)
        result[f"hog_{name}"] = bench_hog(images, args.repeats)
        print(f"[bench] landmarks on {name}", file=sys.stderr, flush=True)
        result[f"landmarks_{name}"] = bench_landmarks(images[: args.n_landmarks], args.repeats)
    if fer_all is not None and not args.no_fer_failure_scan:
        print(f"[bench] landmark failure rate on all {len(fer_all)} FER2013 images", file=sys.stderr, flush=True)
        result["landmark_failures_fer2013"] = landmark_failures(fer_all, args.detect_n)

    print("[bench] augmentation vs training step", file=sys.stderr, flush=True)
    for threads in sorted({1, min(2, os.cpu_count() or 1)}):
        torch.set_num_threads(threads)
        result[f"augmentation_cpu_torch_threads{threads}"] = bench_augmentation(args.batch_size, args.repeats, "cpu")
    if torch.cuda.is_available():
        result["augmentation_cuda"] = bench_augmentation(args.batch_size, args.repeats, "cuda")
    result["machine"]["load_average_end"] = os.getloadavg()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float))
    print(f"[bench] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
