"""Every file the workflow writes, named in one place.

Each function returns one path. Called with wildcard placeholders (``predictions("{challenge}",
"{experiment}")``) it returns the pattern a rule declares as its output; called with values it returns the
file an input function asks for, so the two can never disagree. Logs and benchmark files are named by rule
and job: ``JOBS`` holds each rule's job name pattern, and ``log`` and ``benchmark`` fill it in.
"""

RESULTS = "results"
LOGS = "logs"


class _KeepMissing(dict):
    """format_map values: a wildcard not given stays a placeholder."""

    def __missing__(self, key):
        return "{" + key + "}"


def fill(pattern, **wildcards):
    """``pattern`` with the given wildcards filled in and the others left as placeholders."""
    return pattern.format_map(_KeepMissing(wildcards))


# Stage one, per dataset (abawflow/datasets/registry.py).


def dataset_folder(dataset):
    return f"{RESULTS}/{dataset}"


def index_table(dataset, name):
    """``results/<dataset>/index/<name>.parquet``: subjects, images, splits or labels_<task>."""
    return f"{dataset_folder(dataset)}/index/{name}.parquet"


def splits(dataset):
    return index_table(dataset, "splits")


def labels(dataset, task):
    return index_table(dataset, f"labels_{task}")


def face_shard(dataset, source, shard):
    return f"{dataset_folder(dataset)}/faces/{source}/shard{shard}.parquet"


def features_folder(dataset):
    return f"{dataset_folder(dataset)}/features"


def feature_shard(dataset, backbone, shard):
    return f"{features_folder(dataset)}/{backbone}/shard{shard}.parquet"


def transcripts(dataset):
    """What is said in a dataset's videos: one row per chunk, (subject, start, end, text)."""
    return index_table(dataset, "transcripts")


def feature_table(dataset, backbone):
    return f"{features_folder(dataset)}/{backbone}.parquet"


def feature_matrix(dataset, backbone, suffix):
    """The matrix (suffix ``npy``) or its row table (``rows.parquet``) that training and prediction read."""
    return f"{features_folder(dataset)}/matrices/{backbone}.{suffix}"


def backbone_weights(backbone, training):
    """The weights a backbone's training writes: ``training`` is fine_tuned or mae."""
    return f"{RESULTS}/backbones/{backbone}/{training}.pt"


def backbone_history(backbone, training):
    return f"{RESULTS}/backbones/{backbone}/{'fine_tuning' if training == 'fine_tuned' else training}_history.csv"


# Stage two, per challenge (abawflow/challenges/registry.py).


def run_folder(experiment, target, fold, seed):
    """One training run: an experiment's model for a training target (a task, multitask or a joint challenge)."""
    return f"{RESULTS}/models/{experiment}/{target}/fold{fold}_seed{seed}"


def run_model(experiment, target, fold, seed):
    return f"{run_folder(experiment, target, fold, seed)}/model.pt"


def run_history(experiment, target, fold, seed):
    return f"{run_folder(experiment, target, fold, seed)}/history.csv"


def predictions(challenge, name):
    """An experiment's or an ensemble's prediction table of one challenge."""
    return f"{RESULTS}/predictions/{challenge}/{name}.parquet"


VALIDATION_SCORES = f"{RESULTS}/metrics/validation.csv"


def ensemble_weights(challenge, name):
    """The weights an ensemble averaged its members with, and the frames each applied to."""
    return f"{RESULTS}/metrics/ensemble_weights/{challenge}/{name}.csv"


def score_table(challenge, suffix):
    """A challenge's table of validation scores, one row per experiment and ensemble: csv or md."""
    return f"{RESULTS}/metrics/{challenge}.{suffix}"


def submission_file(challenge, suffix):
    return f"{RESULTS}/submission/{challenge}.{suffix}"


def face_coverage(challenge):
    return f"{RESULTS}/submission/face_coverage/{challenge}.csv"


def trial_file(challenge, trial, suffix):
    """One more entry of a challenge (submission.trials): trial-<k>, as the organizers name uploads."""
    return f"{RESULTS}/submission/trials/{challenge}/trial-{trial}.{suffix}"


def trial_face_coverage(challenge, trial, suffix):
    return f"{RESULTS}/submission/face_coverage/trials/{challenge}/trial-{trial}.{suffix}.csv"


def per_video_submission(challenge):
    """The ABAW3 layout: a folder of one file per test video."""
    return f"{RESULTS}/submission/abaw3/{challenge}"


def per_video_face_coverage(challenge):
    return f"{RESULTS}/submission/abaw3/face_coverage/{challenge}.csv"


# The run report, the bundle and prediction on any video.


def learning_curves_figure(experiment):
    return f"{RESULTS}/report/learning_curves/{experiment}.png"


def mae_figure(backbone):
    return f"{RESULTS}/report/mae/{backbone}.png"


def mae_probe(backbone):
    """The linear probe's validation scores of an MAE backbone's frozen features, before and after."""
    return f"{RESULTS}/backbones/{backbone}/mae_probe.csv"


def validation_figure(challenge):
    return f"{RESULTS}/report/validation/{challenge}.png"


def face_detection_figure(dataset):
    return f"{RESULTS}/report/faces/{dataset}.png"


def score_page(challenge):
    return f"{RESULTS}/report/scores/{challenge}.html"


RUNTIME_TABLE = f"{RESULTS}/report/runtimes.html"
REPORT_DESCRIPTION = f"{RESULTS}/metrics/report.rst"  # the report's first page: the scores, then the workflow
BUNDLE = f"{RESULTS}/bundle"


def video_prediction(video):
    return f"{RESULTS}/predict/{video}"


# Logs and benchmark files: logs/<rule>/<job>.log and logs/benchmarks/<rule>/<job>.tsv, or
# logs/<rule>.log for a rule that runs once.

JOBS = {
    "demo_data": "",
    "demo_mtl_data": "",
    "demo_eri_data": "",
    "index_videos": "",
    "index_annotations": "",
    "index_s_aff_wild2": "",
    "index_hume_reaction": "",
    "index_layout": "{dataset}",
    "demo_dataset": "{dataset}",
    "detect_and_align_faces": "{dataset}/shard{shard}",
    "read_face_crops": "{dataset}/shard{shard}",
    "extract_features": "{dataset}/{backbone}/shard{shard}",
    "merge_feature_shards": "{dataset}/{backbone}",
    "extract_audio_features": "{dataset}/{backbone}",
    "read_precomputed_features": "{dataset}/{backbone}",
    "read_transcripts": "{dataset}",
    "transcribe_speech": "{dataset}",
    "extract_text_features": "{dataset}/{backbone}",
    "cache_feature_matrix": "{dataset}/{backbone}",
    "fine_tune_backbone": "{backbone}",
    "pretrain_mae": "{backbone}",
    "evaluate_mae_pretraining": "{backbone}",
    "train_temporal_model": "{experiment}/{target}/fold{fold}_seed{seed}",
    "predict": "{challenge}/{experiment}",
    "ensemble_predictions": "{challenge}/{ensemble}",
    "evaluate_validation": "",
    "write_submission": "{challenge}",
    "write_submission_per_video": "{challenge}",
    "write_trial_submission": "{challenge}/trial-{trial}.{suffix}",
    "plot_learning_curves": "{experiment}",
    "plot_validation": "{challenge}",
    "plot_face_detection": "{dataset}",
    "write_score_table": "{challenge}",
    "write_runtime_table": "",
    "write_report_description": "",
    "write_model_bundle": "",
    "predict_video": "{video}",
}


def _job_file(folder, rule, suffix, wildcards):
    job = JOBS[rule]
    return f"{folder}/{fill(job, **wildcards)}.{suffix}" if job else f"{folder}.{suffix}"


def log(rule, **wildcards):
    """The log of one job of ``rule`` (its pattern without wildcards)."""
    return _job_file(f"{LOGS}/{rule}", rule, "log", wildcards)


def benchmark(rule, **wildcards):
    """The benchmark file (wall time, memory, I/O) of one job of ``rule`` (its pattern without wildcards)."""
    return _job_file(f"{LOGS}/benchmarks/{rule}", rule, "tsv", wildcards)
