rule evaluate_validation:
    input:
        predictions=scored_predictions(),
        labels=scored_labels(),
    output:
        scores="results/metrics/validation.csv",
        tables_csv=expand(
            "results/metrics/{challenge}.csv", challenge=scored_challenges()
        ),
        tables_markdown=expand(
            "results/metrics/{challenge}.md", challenge=scored_challenges()
        ),
    log:
        "logs/evaluate_validation.log",
    benchmark:
        "logs/benchmarks/evaluate_validation.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        scored=[list(pair) for pair in scored()],
        challenges=scored_challenges(),
        submitted=submitted_names(),
        inputs=scored_inputs(),
        code=script_fingerprint("evaluate_validation.py"),
    script:
        "../workflow_scripts/evaluate_validation.py"


rule write_submission:
    input:
        predictions=submitted_predictions,
        index=submission_index,
        media=challenge_media,
    output:
        submission="results/submission/{task}.txt",
        coverage="results/submission/face_coverage/{task}.csv",
    log:
        "logs/write_submission/{task}.log",
    benchmark:
        "logs/benchmarks/write_submission/{task}.tsv"
    wildcard_constraints:
        task="|".join(TXT_SUBMISSIONS),  # mtl: results/submission/mtl.txt, one line per test image
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        layout="abaw5",
        minimum_face_coverage=config["submission"]["minimum_face_coverage"],
        code=script_fingerprint("write_submission.py"),
    script:
        "../workflow_scripts/write_submission.py"


# The challenges whose submission is a CSV (eri: one row per test sample).
use rule write_submission as write_submission_csv with:
    output:
        submission="results/submission/{task}.csv",
        coverage="results/submission/face_coverage/{task}.csv",
    wildcard_constraints:
        task="|".join(CSV_SUBMISSIONS) or "(?!)",


rule write_submission_per_video:
    input:
        predictions=submitted_predictions,
        index="results/aff_wild2/index/splits.parquet",
        media="results/aff_wild2/index/subjects.parquet",
    output:
        submission=directory("results/submission/abaw3/{task}"),
        coverage="results/submission/abaw3/face_coverage/{task}.csv",
    log:
        "logs/write_submission_per_video/{task}.log",
    benchmark:
        "logs/benchmarks/write_submission_per_video/{task}.tsv"
    wildcard_constraints:
        task="|".join(AFF_WILD2_TASKS),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        layout="abaw3",
        minimum_face_coverage=config["submission"]["minimum_face_coverage"],
        code=script_fingerprint("write_submission.py"),
    script:
        "../workflow_scripts/write_submission.py"
