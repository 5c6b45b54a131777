# Stage 2, split: seeded split lists (sample_id,split) under results/splits/<dataset>/.


rule split:
    input:
        **decoded("{dataset}"),
    output:
        "results/splits/{dataset}/{protocol}_seed{seed}.csv",
    log:
        "results/logs/split/{dataset}_{protocol}_seed{seed}.log",
    conda:
        "../../envs/data.yaml"
    params:
        fractions=" ".join(str(f) for f in config.get("split_fractions", [0.6, 0.2, 0.2])),
    shell:
        "workflow/scripts/ferrepro split --decoded results/decoded/{wildcards.dataset} --protocol {wildcards.protocol}"
        " --seed {wildcards.seed} --fractions {params.fractions} --out {output} > {log} 2>&1"


rule audit:
    input:
        **decoded("{dataset}"),
        split="results/splits/{dataset}/{protocol}_seed{seed}.csv",
    output:
        json="results/audit/{dataset}/{protocol}_seed{seed}.json",
        md=report("results/audit/{dataset}/{protocol}_seed{seed}.md", caption="../report/audit.rst", category="Data"),
    log:
        "results/logs/audit/{dataset}_{protocol}_seed{seed}.log",
    benchmark:
        "results/benchmarks/audit/{dataset}_{protocol}_seed{seed}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "workflow/scripts/ferrepro audit --decoded results/decoded/{wildcards.dataset} --split {input.split}"
        " --out-json {output.json} --out-md {output.md} > {log} 2>&1"
