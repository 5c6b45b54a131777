# Stage 1, data: every dataset ends up in the standard decoded format under results/decoded/<dataset>/.


rule make_synthetic:
    output:
        images="results/decoded/{synthetic}/images.npy",
        samples="results/decoded/{synthetic}/samples.csv",
        report="results/decoded/{synthetic}/decode_report.json",
        preview=report("results/decoded/{synthetic}/preview.png", caption="../report/synthetic.rst", category="Data"),
    log:
        "results/logs/data/{synthetic}.log",
    benchmark:
        "results/benchmarks/data/{synthetic}.tsv"
    wildcard_constraints:
        synthetic="synthetic|synthetic_shift",
    conda:
        "../../envs/data.yaml"
    params:
        # The generator's settings as JSON (a param: changing them re-renders this dataset only).
        json=lambda wc: json.dumps(synthetic_params(wc.synthetic), sort_keys=True),
    shell:
        "workflow/scripts/ferrepro make-synthetic --out results/decoded/{wildcards.synthetic} --params-json {params.json:q}"
        " --preview {output.preview} > {log} 2>&1"


rule decode_dataset:
    input:
        registry="config/datasets.yaml",
        manifest=lambda wc: manifest_path(wc.dataset),
    output:
        images="results/decoded/{dataset}/images.npy",
        samples="results/decoded/{dataset}/samples.csv",
        report="results/decoded/{dataset}/decode_report.json",
    log:
        "results/logs/data/decode_{dataset}.log",
    benchmark:
        "results/benchmarks/data/decode_{dataset}.tsv"
    wildcard_constraints:
        # The synthetic datasets are rendered, not decoded (the lookahead sees the rest of the path).
        dataset=r"(?!synthetic/|synthetic_shift/)[a-z0-9_+]+",
    conda:
        "../../envs/data.yaml"
    params:
        raw_root=config["raw_dir"],
        out=lambda wc: f"results/decoded/{wc.dataset}",
        # config/config.yaml `decode: {<dataset>: {size, resize, label_set, quarantine}}` (a params change
        # re-decodes that dataset only)
        options=lambda wc: decode_flags(wc.dataset),
    shell:
        "workflow/scripts/ferrepro decode --dataset {wildcards.dataset} --raw-root {params.raw_root:q}"
        " --registry {input.registry} --out {params.out} {params.options} > {log} 2>&1"


# Opt-in: fetch a public file listed under `downloads:` in config/datasets.yaml (today the FER+ labels),
# verifying its sha256, into the dataset's folder under `raw_dir`. Never part of `rule all`; ask for it by
# name, e.g. (with the default raw_dir)
#   snakemake --cores 1 resources/raw/ferplus/fer2013new.csv
rule download_public_file:
    input:
        registry="config/datasets.yaml",
    output:
        f"{config['raw_dir']}/{{dataset}}/{{filename}}",
    log:
        "results/logs/data/download_{dataset}_{filename}.log",
    wildcard_constraints:
        dataset="ferplus",
        filename=r"fer2013new\.csv",
    conda:
        "../../envs/data.yaml"
    params:
        folder=lambda wc, output: str(Path(output[0]).parent),
    shell:
        "workflow/scripts/ferrepro check-data download --dataset {wildcards.dataset} --file {wildcards.filename}"
        " --raw-dir {params.folder:q} --registry {input.registry} > {log} 2>&1"
