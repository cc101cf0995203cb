# abawflow: the videos and annotations of the ABAW challenges -> submission files.
#
#   snakemake --cores 8 submission


import copy

# What the user's --configfile files and --config values hold, before the embedded default goes beneath
# them: the default's method preset holds only without a file of the user's (abawflow/plan/config_layers.py).
USER_CONFIG = copy.deepcopy(config)


# The embedded default config, found beside this file whatever the working directory.
configfile: workflow.source_path("config.yaml")


include: "rules/common.smk"
include: "rules/demo_data.smk"
# Stage one, per dataset: index, faces, features (and the backbones' own training), audio, text.
include: "rules/index.smk"
include: "rules/faces.smk"
include: "rules/features.smk"
include: "rules/backbone_training.smk"
include: "rules/audio.smk"
include: "rules/text.smk"
# Stage two, per challenge: training, prediction and ensembles, scores, submissions.
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/scores.smk"
include: "rules/submission.smk"
include: "rules/report.smk"
include: "rules/bundle.smk"


# snakemake --report report.html: the run's scores, figures and runtimes in one HTML file, opening on the
# score tables (results/metrics/report.rst, which every run writes).
report: PLAN.report_description("report/workflow.rst")


rule submission:
    default_target: True
    input:
        PLAN.submission_files(),
        paths.VALIDATION_SCORES,
        PLAN.report_outputs(),


# snakemake bundle: the submitted models, loadable without the training data (abawflow predict).
rule bundle:
    input:
        paths.BUNDLE,


# snakemake predict_videos: the bundle on the videos config.yaml's predict.videos lists.
rule predict_videos:
    input:
        PLAN.predicted_videos,
