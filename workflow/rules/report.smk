# Stage 5, report: tables across runs, the claims table, and what `snakemake --report` and `dvc plots` show.
# Every rule calls one `ferrepro` command; the logic is in src/ferrepro/reporting/.


# The front page of `snakemake --report results/report.html`: it opens on the claims table.
report: "../report/workflow.rst"


rule summary:
    input:
        all_metrics(),
    output:
        md=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
        csv="results/summary.csv",
        metrics="results/metrics.json",
        # Named one by one, not as a directory(), whose .snakemake_timestamp file DVC would show as a metrics file.
        per_run=all_metrics_files(),
    log:
        "results/logs/report/summary.log",
    conda:
        "../../envs/report.yaml"
    params:
        # results/metrics: results/metrics/<paper>/<experiment>/<dataset>/seed<k>.json, four levels up
        metrics_dir=lambda wc, output: str(Path(output.per_run[0]).parents[3]),
    shell:
        "workflow/scripts/ferrepro summary --metrics {input} --out-csv {output.csv} --out-md {output.md} --out-json {output.metrics}"
        " --metrics-dir {params.metrics_dir} --current-specs results/specs > {log} 2>&1"


rule experiments:
    input:
        metrics=evaluated(),
        predictions=beside(evaluated(), "predictions.parquet"),
        summaries=beside(all_metrics(), "train_summary.json"),
        papers=paper_configs(),
    output:
        json="results/experiments.json",
        csv="results/experiments.csv",
        md="results/experiments.md",
        html=report(
            "results/experiments.html", caption="../report/experiments.rst", category="1. Claims and statistics"
        ),
    log:
        "results/logs/report/experiments.log",
    benchmark:
        "results/benchmarks/report/experiments.tsv"
    conda:
        "../../envs/report.yaml"
    shell:
        "workflow/scripts/ferrepro experiments --metrics {input.metrics:q} --paper-configs {input.papers:q}"
        " --current-specs results/specs --out-json {output.json} --out-csv {output.csv} --out-md {output.md} --out-html {output.html} > {log} 2>&1"


rule claims:
    input:
        experiments="results/experiments.json",
        efficiency=expand("results/efficiency/{paper}.json", paper=config["papers"]),
        papers=every_paper_config(),
        registry="config/datasets.yaml",
    output:
        csv="results/claims.csv",
        md="results/claims.md",
        html=report("results/claims.html", caption="../report/claims.rst", category="1. Claims and statistics"),
        png=report("results/claims.png", caption="../report/claims_chart.rst", category="1. Claims and statistics"),
    log:
        "results/logs/report/claims.log",
    conda:
        "../../envs/report.yaml"
    params:
        preset=config["preset"],
        papers=config["papers"],
    shell:
        "workflow/scripts/ferrepro claims --paper-configs {input.papers:q} --experiments {input.experiments:q}"
        " --efficiency {input.efficiency:q} --registry {input.registry:q} --preset {params.preset:q}"
        " --papers {params.papers:q} --current-specs results/specs"
        " --out-csv {output.csv} --out-md {output.md} --out-html {output.html} --out-png {output.png} > {log} 2>&1"


rule comparisons:
    input:
        metrics=evaluated(),
        predictions=beside(evaluated(), "predictions.parquet"),
        papers=paper_configs(),
    output:
        csv="results/comparisons.csv",
        md="results/comparisons.md",
        html=report(
            "results/comparisons.html", caption="../report/comparisons.rst", category="1. Claims and statistics"
        ),
        png=report(
            "results/leaky_vs_proper.png", caption="../report/leaky_vs_proper.rst", category="1. Claims and statistics"
        ),
    log:
        "results/logs/report/comparisons.log",
    benchmark:
        "results/benchmarks/report/comparisons.tsv"
    conda:
        "../../envs/report.yaml"
    shell:
        "workflow/scripts/ferrepro comparisons --metrics {input.metrics:q} --paper-configs {input.papers:q}"
        " --current-specs results/specs --out-csv {output.csv} --out-md {output.md}"
        " --out-html {output.html} --out-png {output.png:q} > {log} 2>&1"


rule per_class:
    input:
        metrics=evaluated(),
    output:
        csv="results/per_class.csv",
        md="results/per_class.md",
        html=report("results/per_class.html", caption="../report/per_class.rst", category="1. Claims and statistics"),
    log:
        "results/logs/report/per_class.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "workflow/scripts/ferrepro per-class --metrics {input.metrics:q} --current-specs results/specs"
        " --out-csv {output.csv:q} --out-md {output.md:q} --out-html {output.html:q} > {log} 2>&1"


rule efficiency_table:
    input:
        reports=expand("results/efficiency/{paper}.json", paper=config["papers"]),
        papers=paper_configs(),
    output:
        csv="results/efficiency.csv",
        md="results/efficiency.md",
        html=report(
            "results/efficiency.html", caption="../report/efficiency.rst", category="2. Efficiency and robustness"
        ),
    log:
        "results/logs/report/efficiency_table.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "workflow/scripts/ferrepro efficiency-table --reports {input.reports} --paper-configs {input.papers:q}"
        " --out-csv {output.csv} --out-md {output.md} --out-html {output.html} > {log} 2>&1"


rule robustness_table:
    input:
        all_robustness(),
    output:
        csv="results/robustness.csv",
        md="results/robustness.md",
        html=report(
            "results/robustness.html", caption="../report/robustness.rst", category="2. Efficiency and robustness"
        ),
    log:
        "results/logs/report/robustness_table.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "workflow/scripts/ferrepro robustness-table --reports {input:q} --current-specs results/specs"
        " --out-csv {output.csv:q} --out-md {output.md:q} --out-html {output.html:q} > {log} 2>&1"


# dvc.yaml's `plots:` read these folders (one plot per run), so they never name a run themselves.
rule plot_data:
    input:
        curves=beside(all_metrics(), "learning_curve.png"),
        figures=beside(all_metrics(), "confusion_matrix.png"),
        # read for their spec digests: a stale run's figures are refused
        metrics=all_metrics(),
    output:
        directory("results/plots"),
    log:
        "results/logs/report/plot_data.log",
    conda:
        "../../envs/report.yaml"
    params:
        runs=all_run_dirs(),
    shell:
        "workflow/scripts/ferrepro plot-data --runs {params.runs:q} --current-specs results/specs --out {output:q} > {log} 2>&1"
