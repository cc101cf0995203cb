# Each challenge's submission file, by its registered writer (abawflow/challenges/registry.py).


rule write_submission:
    input:
        predictions=PLAN.submitted_predictions,
        index=PLAN.submission_index,
        media=PLAN.challenge_media,
    output:
        submission=paths.submission_file("{challenge}", "txt"),
        coverage=paths.face_coverage("{challenge}"),
    log:
        paths.log("write_submission"),
    benchmark:
        paths.benchmark("write_submission")
    wildcard_constraints:
        challenge=PLAN.challenges_with_suffix("txt"),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        layout="abaw5",
        settings=PLAN.submission_settings,
        minimum_face_coverage=PLAN.setting("submission", "minimum_face_coverage"),
        code=PLAN.code("write_submission.py"),
    script:
        "../workflow_scripts/write_submission.py"


# The challenges whose submission is a CSV (eri: one row per test sample).
use rule write_submission as write_submission_csv with:
    output:
        submission=paths.submission_file("{challenge}", "csv"),
        coverage=paths.face_coverage("{challenge}"),
    wildcard_constraints:
        challenge=PLAN.challenges_with_suffix("csv"),


# submission.trials: more entries of a challenge, each in its own layout (trial-0, trial-1, ...).
use rule write_submission as write_trial_submission with:
    input:
        predictions=PLAN.trial_predictions,
        index=PLAN.submission_index,
        media=PLAN.challenge_media,
    output:
        submission=paths.trial_file("{challenge}", "{trial}", "{suffix}"),
        coverage=paths.trial_face_coverage("{challenge}", "{trial}", "{suffix}"),
    log:
        paths.log("write_trial_submission"),
    benchmark:
        paths.benchmark("write_trial_submission")
    wildcard_constraints:
        challenge=PLAN.challenges_with_trials,
        trial=r"\d",
        suffix="txt|csv",


# submission.format abaw3: Aff-Wild2's challenges as one file per test video.
rule write_submission_per_video:
    input:
        predictions=PLAN.submitted_predictions,
        index=paths.splits("aff_wild2"),
        media=paths.index_table("aff_wild2", "subjects"),
    output:
        submission=directory(paths.per_video_submission("{challenge}")),
        coverage=paths.per_video_face_coverage("{challenge}"),
    log:
        paths.log("write_submission_per_video"),
    benchmark:
        paths.benchmark("write_submission_per_video")
    wildcard_constraints:
        challenge=alternatives(PLAN.aff_wild2_tasks),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        layout="abaw3",
        settings=PLAN.submission_settings,
        minimum_face_coverage=PLAN.setting("submission", "minimum_face_coverage"),
        code=PLAN.code("write_submission.py"),
    script:
        "../workflow_scripts/write_submission.py"
