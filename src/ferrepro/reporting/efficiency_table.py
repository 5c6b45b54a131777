"""results/efficiency.{csv,md,html}: the efficiency reports of every paper in one table.

The measurements (and their conventions) are made by ferrepro.evaluation.efficiency
(``ferrepro efficiency --specs-json``); this module only reads its JSON files, so the table rule needs no torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ferrepro.evaluation.metrics import BY_NAME, EFFICIENCY_METRICS
from ferrepro.reporting.tables import fmt, write_table

# -------------------------------------------------------------------------------------------- the table


def _latency_result(latency: dict | None, batch_size: int) -> dict | None:
    return next((r for r in (latency or {}).get("results", []) if r["batch_size"] == batch_size), None)


def _ms(result: dict | None) -> str:
    if not result:
        return ""
    return f"{result['median_ms']:.2f} ({result['p10_ms']:.2f}-{result['p90_ms']:.2f})"


def _claims_text(paper_cfg: dict | None, experiments: list[str]) -> str:
    if not paper_cfg:
        return ""
    parts = []
    for name in experiments:
        for claim in paper_cfg["experiments"].get(name, {}).get("claims") or []:
            if claim["metric"] in EFFICIENCY_METRICS:
                unit, size = BY_NAME[claim["metric"]].unit or ("", 1.0)
                value = f"{claim['value'] / size:g}" + (f" {unit}" if unit else "")
                parts.append(
                    f"{name}: {claim['metric']} {value}" + (f" ({claim['note']})" if claim.get("note") else "")
                )
    return "; ".join(parts)


TABLE_COLUMNS = [
    "paper",
    "model",
    "experiments",
    "input (C x H x W)",
    "classes",
    "fused features",
    "params (M)",
    "GFLOPs (2/MAC)",
    "GMACs",
    "CPU b1 ms median (p10-p90)",
    "CPU b32 ms median (p10-p90)",
    "CPU b32 ms/image",
    "threads",
    "GPU b1 ms",
    "GPU b32 ms",
    "latency measured on",
    "paper's claim",
]


def efficiency_table(reports: list[dict], paper_configs: dict[str, dict]) -> pd.DataFrame:
    records = []
    for report in sorted(reports, key=lambda r: r["paper"]):
        for model_id, entry in report["models"].items():
            cpu, gpu = entry.get("latency_cpu"), entry.get("latency_gpu")
            cpu32 = _latency_result(cpu, 32)
            source = entry.get("latency_measured_on", model_id)
            records.append(
                {
                    "paper": report["paper"],
                    "model": entry["model"],
                    "experiments": ", ".join(entry["experiments"]),
                    "input (C x H x W)": "x".join(str(v) for v in entry["input_shape"]),
                    "classes": entry["num_classes"],
                    "fused features": entry["feature_dim"] or "",
                    "params (M)": fmt(entry["parameters"]["total"] / 1e6, 3),
                    "GFLOPs (2/MAC)": fmt(entry["flops"]["gflops"], 3),
                    "GMACs": fmt(entry["flops"]["gmacs"], 3),
                    "CPU b1 ms median (p10-p90)": _ms(_latency_result(cpu, 1)),
                    "CPU b32 ms median (p10-p90)": _ms(cpu32),
                    "CPU b32 ms/image": fmt(cpu32["median_ms_per_sample"], 2) if cpu32 else "",
                    "threads": (cpu or {}).get("threads", ""),
                    "GPU b1 ms": _ms(_latency_result(gpu, 1)),
                    "GPU b32 ms": _ms(_latency_result(gpu, 32)),
                    "latency measured on": "this model"
                    if source == model_id
                    else f"{source} ({', '.join(report['models'][source]['experiments'][:2])}): "
                    "same factory and input size",
                    "paper's claim": _claims_text(paper_configs.get(report["paper"]), entry["experiments"]),
                }
            )
    return pd.DataFrame(records, columns=TABLE_COLUMNS)


def table_notes(reports: list[dict]) -> list[str]:
    cpus = sorted({r["cpu"] for r in reports})
    gpus = sorted({r["gpu"] for r in reports if r.get("gpu")})
    protocol = reports[0]["protocol"] if reports else {}
    return [
        "FLOPs: torch.utils.flop_counter.FlopCounterMode at batch 1, 2 FLOPs per multiply-add (GMACs = GFLOPs / 2); "
        "matmul/conv/attention only (bias, normalisation, activations and pooling are not counted).",
        f"Latency: median of {protocol.get('cpu_runs')} timed calls after {protocol.get('cpu_warmup')} warm-ups "
        "(torch.inference_mode, fp32, random weights, input already in memory) on "
        f"{', '.join(cpus) or 'no CPU measured'}; "
        + (
            f"GPU: {', '.join(gpus)}, {protocol.get('gpu_runs')} calls."
            if gpus
            else "no GPU was available, so no GPU latency."
        ),
        "Each model is measured at the paper's own input size and channels (full preset), not the quick preset's.",
    ]


def cli_table(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro efficiency-table", description="collect results/efficiency/*.json")
    parser.add_argument("--reports", nargs="*", default=[])
    parser.add_argument("--paper-configs", nargs="*", default=[], help="config/papers/<paper>.yaml of the reports")
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    args = parser.parse_args(argv)
    from ferrepro.config import load_paper_config

    reports = [json.loads(Path(p).read_text()) for p in args.reports]
    by_paper = {cfg["paper"]: cfg for cfg in map(load_paper_config, args.paper_configs)}
    configs = {report["paper"]: by_paper.get(report["paper"]) for report in reports}
    write_table(
        efficiency_table(reports, configs),
        "Model efficiency at the papers' input sizes",
        args.out_csv,
        args.out_md,
        args.out_html,
        table_notes(reports),
        table_id="efficiency",
    )
    return 0
