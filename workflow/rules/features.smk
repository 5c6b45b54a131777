# Stage 2b, features: one cached handcrafted feature array per dataset under results/features/<dataset>/.
# All logic is in ferrepro.features (`ferrepro features`); parameters come from config["features"][<feature>].


rule features_hog:
    input:
        images="results/decoded/{dataset}/images.npy",
        samples="results/decoded/{dataset}/samples.csv",
    output:
        features="results/features/{dataset}/{feature}.npy",
        sidecar="results/features/{dataset}/{feature}.json",
    log:
        "results/logs/features/{dataset}/{feature}.log",
    benchmark:
        "results/benchmarks/features/{dataset}/{feature}.tsv"
    wildcard_constraints:
        feature="hog|sliding_hog",
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        json=lambda wc: feature_params(wc.feature),
    shell:
        "workflow/scripts/ferrepro features --decoded results/decoded/{wildcards.dataset} --feature {wildcards.feature}"
        " --params-json {params.json:q} --out {output.features} --threads {threads} > {log} 2>&1"


rule features_landmarks:
    input:
        images="results/decoded/{dataset}/images.npy",
        samples="results/decoded/{dataset}/samples.csv",
    output:
        features="results/features/{dataset}/landmarks.npy",
        sidecar="results/features/{dataset}/landmarks.json",
        points="results/features/{dataset}/landmarks_points.npy",
    log:
        "results/logs/features/{dataset}/landmarks.log",
    benchmark:
        "results/benchmarks/features/{dataset}/landmarks.tsv"
    conda:
        "../../envs/data.yaml"
    # dlib holds the GIL, so these are worker processes; Snakemake lowers it to --cores if needed.
    threads: 4
    params:
        json=feature_params("landmarks"),
    shell:
        "workflow/scripts/ferrepro features --decoded results/decoded/{wildcards.dataset} --feature landmarks"
        " --params-json {params.json:q} --out {output.features} --threads {threads} > {log} 2>&1"
