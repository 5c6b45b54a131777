# Stage 4, evaluate: the test split is scored once, with the checkpoint selected on validation.


rule evaluate:
    input:
        unpack(lambda wc: decoded(wc.dataset)),
        model="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/model.pt",
        history="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/history.csv",
        summary="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/train_summary.json",
        spec=lambda wc: run_of(wc).spec_file,
        split=lambda wc: run_of(wc).split_file,
        features=lambda wc: run_features(run_of(wc)),
        points=lambda wc: run_landmark_points(run_of(wc)),
    output:
        metrics="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/metrics.json",
        predictions="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/predictions.parquet",
        confusion=report(
            "results/runs/{paper}/{experiment}/{dataset}/seed{seed}/confusion_matrix.png",
            caption="../report/confusion_matrix.rst",
            category="Runs",
            subcategory="{paper}",
            labels={
                "experiment": "{experiment}",
                "dataset": "{dataset}",
                "seed": "{seed}",
                "figure": "confusion matrix",
            },
        ),
        curve=report(
            "results/runs/{paper}/{experiment}/{dataset}/seed{seed}/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Runs",
            subcategory="{paper}",
            labels={
                "experiment": "{experiment}",
                "dataset": "{dataset}",
                "seed": "{seed}",
                "figure": "learning curve",
            },
        ),
    log:
        "results/logs/evaluate/{paper}/{experiment}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{paper}/{experiment}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        run_dir=lambda wc: run_of(wc).run_dir,
        flags=lambda wc, input: shell_flags(features=input.features, landmarks_points=input.points),
        # The digest of the run's current spec: a param (a changed spec reruns the job) that the command
        # checks against model.pt, so it can never score a model trained for another setting.
        digest=lambda wc: run_of(wc).spec_digest,
    shell:
        "workflow/scripts/ferrepro evaluate --run {params.run_dir:q} --decoded results/decoded/{wildcards.dataset}"
        " --split {input.split:q} --spec-digest {params.digest}"
        " {params.flags} > {log:q} 2>&1"


# Train on A, test on B: the selected checkpoint scored on every sample of another dataset, prepared
# exactly as the run's own test images (samples of classes the model does not know are counted, not scored).
rule evaluate_cross:
    input:
        unpack(lambda wc: decoded(cross_target_of(wc))),
        model="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/model.pt",
        summary="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/train_summary.json",
        spec=lambda wc: run_of(wc).spec_file,
        features=lambda wc: run_features(run_of(wc), cross_target_of(wc)),
        points=lambda wc: run_landmark_points(run_of(wc), cross_target_of(wc)),
    output:
        metrics="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/cross/{target}/metrics.json",
        predictions="results/runs/{paper}/{experiment}/{dataset}/seed{seed}/cross/{target}/predictions.parquet",
        confusion=report(
            "results/runs/{paper}/{experiment}/{dataset}/seed{seed}/cross/{target}/confusion_matrix.png",
            caption="../report/cross_confusion_matrix.rst",
            category="Cross-dataset",
            subcategory="{paper}",
            labels={
                "experiment": "{experiment}",
                "trained on": "{dataset}",
                "tested on": "{target}",
                "seed": "{seed}",
            },
        ),
    log:
        "results/logs/evaluate/{paper}/{experiment}/{dataset}/seed{seed}_cross_{target}.log",
    benchmark:
        "results/benchmarks/evaluate/{paper}/{experiment}/{dataset}/seed{seed}_cross_{target}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        run_dir=lambda wc: run_of(wc).run_dir,
        flags=lambda wc, input: shell_flags(features=input.features, landmarks_points=input.points),
        # The digest of the run's current spec: a param (a changed spec reruns the job) that the command
        # checks against model.pt, so it can never score a model trained for another setting.
        digest=lambda wc: run_of(wc).spec_digest,
    shell:
        "workflow/scripts/ferrepro evaluate --run {params.run_dir:q} --decoded results/decoded/{wildcards.target}"
        " --cross {wildcards.target} --out {params.run_dir:q}/cross/{wildcards.target} --spec-digest {params.digest}"
        " {params.flags} > {log:q} 2>&1"
