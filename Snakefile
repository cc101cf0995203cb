# abawflow: Aff-Wild2 videos and annotations -> ABAW submission files.
#
#   snakemake --cores 8 submission


# The embedded default config, found beside this file whatever the working directory.
configfile: workflow.source_path("config.yaml")


# snakemake --report report.html: the run's scores, figures and runtimes in one HTML file.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo_data.smk"
include: "rules/index.smk"
include: "rules/faces.smk"
include: "rules/features.smk"
include: "rules/audio.smk"
include: "rules/train.smk"
include: "rules/ensemble.smk"
include: "rules/submission.smk"
include: "rules/report.smk"
include: "rules/bundle.smk"


rule submission:
    default_target: True
    input:
        submission_files,
        "results/metrics/validation.csv",
        mtl_outputs,
        report_outputs,


# snakemake bundle: the submitted models, loadable without the training data (abawflow predict).
rule bundle:
    input:
        "results/bundle",


# snakemake predict_videos: the bundle on the videos config.yaml's predict.videos lists.
rule predict_videos:
    input:
        predicted_videos,
