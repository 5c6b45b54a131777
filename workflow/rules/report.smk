# Stage 5, report: tables across runs.


rule summary:
    input:
        all_metrics(),
    output:
        md=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
        csv="results/summary.csv",
        metrics="results/metrics.json",
    log:
        "results/logs/report/summary.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "workflow/scripts/ferrepro summary --metrics {input} --out-csv {output.csv} --out-md {output.md} --out-json {output.metrics} > {log} 2>&1"
