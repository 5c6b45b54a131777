# Stage 4b, analysis: model efficiency per paper (at the paper's own input size) and robustness per run.
# All logic is in ferrepro.evaluation.efficiency and ferrepro.evaluation.robustness.


rule efficiency:
    input:
        registry="config/datasets.yaml",
    output:
        "results/efficiency/{paper}.json",
    log:
        "results/logs/analysis/efficiency_{paper}.log",
    benchmark:
        "results/benchmarks/analysis/efficiency_{paper}.tsv"
    # Below every other job (default 0): the efficiency jobs need nothing but the registry, so they would
    # otherwise run first and hold every core for minutes before the first training starts. (When only
    # they are left, Snakemake's scheduler falls back to running them in priority order.)
    priority: -1
    conda:
        "../../envs/train.yaml"
    # Latency is wall-clock time: the job takes the cores it times on, so no other job competes with it.
    # Snakemake lowers it to --cores where fewer are available; the JSON records the threads used.
    threads: 4
    params:
        specs=efficiency_specs,
    shell:
        "workflow/scripts/ferrepro efficiency --specs-json {params.specs:q} --registry {input.registry}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule robustness:
    input:
        unpack(lambda wc: decoded(wc.dataset)),
        model="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/model.pt",
        metrics="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/metrics.json",
        predictions="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/predictions.parquet",
        split=lambda wc: run_of(wc).split_file,
        spec=lambda wc: run_of(wc).spec_file,
        points=lambda wc: run_landmark_points(run_of(wc)),
    output:
        "results/runs/{paper}/{experiment}/{dataset}/seed{seed}/robustness.json",
    log:
        "results/logs/analysis/robustness/{paper}/{experiment}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/analysis/robustness/{paper}/{experiment}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        run_dir=lambda wc: run_of(wc).run_dir,
        digest=lambda wc: run_of(wc).spec_digest,
    shell:
        "workflow/scripts/ferrepro robustness --run {params.run_dir:q} --decoded results/decoded/{wildcards.dataset}"
        " --split {input.split:q} --landmarks-points {input.points:q} --threads {threads} --spec-digest {params.digest}"
        " > {log:q} 2>&1"
