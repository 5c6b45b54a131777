# Stage 3, train: ONE generic rule for every paper. The run's fully resolved spec is a param, so a
# changed hyperparameter reruns exactly the runs it affects (Snakemake's params rerun trigger).


rule train:
    input:
        unpack(lambda wc: decoded(wc.dataset)),
        split=lambda wc: run_of(wc).split_file,
        # The paper's config as a file input too: on a machine without Snakemake's metadata (a fresh
        # clone after `dvc pull`), the mtime trigger still reruns this paper's runs, and only them.
        paper_config=lambda wc: f"{config['paper_config_dir']}/{wc.paper}.yaml",
        features=lambda wc: run_features(run_of(wc)),
        points=lambda wc: run_landmark_points(run_of(wc)),
    output:
        model="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/model.pt",
        history="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/history.csv",
        summary="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/train_summary.json",
    params:
        spec=lambda wc: run_of(wc).spec_json,
        run_dir=lambda wc: run_of(wc).run_dir,
    # The run's own torch thread count (a profile may lower it to run more small jobs side by side).
    threads: lambda wc: run_of(wc).spec["trainer"].get("threads", 2)
    resources:
        # One slot per device the run trains on, so `--resources gpu=N` never oversubscribes the GPUs.
        gpu=lambda wc: run_of(wc).gpus,
    log:
        "results/logs/train/{paper}/{experiment}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{paper}/{experiment}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    shell:
        "workflow/scripts/ferrepro train --spec {params.spec:q} --decoded results/decoded/{wildcards.dataset}"
        " --split {input.split} --features {input.features} --landmarks-points {input.points} --out {params.run_dir} > {log} 2>&1"
