# Stage 3, train: ONE generic rule for every paper. The run's fully resolved spec is a param, so a
# changed hyperparameter reruns exactly the runs it affects (Snakemake's params rerun trigger).


rule train:
    input:
        unpack(lambda wc: decoded(wc.dataset)),
        split=lambda wc: run_of(wc).split_file,
        # The run's resolved spec (common.smk rewrites it only when it changes): the mtime trigger then
        # reruns exactly the runs whose settings changed, with or without Snakemake's metadata.
        spec=lambda wc: run_of(wc).spec_file,
        features=lambda wc: run_features(run_of(wc)),
        points=lambda wc: run_landmark_points(run_of(wc)),
    output:
        model="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/model.pt",
        history="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/history.csv",
        summary="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/train_summary.json",
    log:
        "results/logs/train/{paper}/{experiment}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{paper}/{experiment}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    # The run's own torch thread count (a preset may lower it to run more small jobs side by side); 2 when
    # the trainer leaves torch its own default.
    threads: lambda wc: run_of(wc).spec.trainer.threads or 2
    resources:
        # One slot per device the run trains on, so `--resources gpu=N` never oversubscribes the GPUs.
        gpu=lambda wc: run_of(wc).gpus,
    params:
        digest=lambda wc: run_of(wc).spec_digest,
        # Only the flags that have values: no bare `--features  --landmarks-points` on printed commands.
        flags=lambda wc, input: shell_flags(features=input.features, landmarks_points=input.points),
        run_dir=lambda wc: run_of(wc).run_dir,
    shell:
        "workflow/scripts/ferrepro train --spec-file {input.spec:q} --decoded results/decoded/{wildcards.dataset}"
        " --split {input.split:q} {params.flags}"
        " --out {params.run_dir:q} > {log:q} 2>&1"
