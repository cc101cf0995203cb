"""The answers the rules get from the plan (abawflow/plan/workflow.py), without Snakemake: each input function
is called with wildcards as Snakemake would, and its paths are the ones the rules' outputs declare."""

import copy
from types import SimpleNamespace

import pytest

from abawflow.core.errors import AnnotationFormatError, ConfigError, DatasetLayoutError, VideoDecodeError
from abawflow.plan.config_layers import load_config
from abawflow.plan.schema import validate_config
from abawflow.plan.workflow import WorkflowPlan


def workflow_plan(config, repository):
    config = validate_config(copy.deepcopy(config))
    return WorkflowPlan(config, repository)


@pytest.fixture
def plan(config, repository):
    return workflow_plan(config, repository)


def w(**wildcards):
    return SimpleNamespace(**wildcards)


def test_what_the_default_run_holds(plan):
    assert plan.challenges == ["va", "expr", "au", "eri", "emi", "ah", "mtl"]
    assert plan.aff_wild2_tasks == ["va", "expr", "au"]
    assert plan.training_targets == "va|expr|au|eri|emi|ah|multitask|mtl"
    assert plan.challenges_with_suffix("csv") == "eri|emi" and plan.challenges_with_suffix("txt") == "va|expr|au|ah|mtl"
    assert (
        plan.datasets_with_reader == ["hume_vidmimic2", "bah"] and plan.generated_datasets == plan.datasets_with_reader
    )
    assert plan.backbones_of("extract_audio_features") == "log_mel"
    assert plan.index_labels("s_aff_wild2") == [
        f"results/s_aff_wild2/index/labels_{task}.parquet" for task in ("va", "expr", "au")
    ]


def test_stage_one_inputs(plan):
    shard = w(dataset="aff_wild2", backbone="fer_expr_ft", shard="0of1")
    assert plan.face_shard(shard) == "results/aff_wild2/faces/detected/shard0of1.parquet"
    assert plan.face_tables_of_dataset(w(dataset="s_aff_wild2")) == [
        "results/s_aff_wild2/faces/cropped_aligned/shard0of1.parquet"
    ]
    assert plan.media_table(w(dataset="s_aff_wild2")) == "results/s_aff_wild2/index/images.parquet"
    assert plan.backbone_weights(shard) == ["results/backbones/fer_expr_ft/fine_tuned.pt"]
    assert plan.feature_shards(shard) == ["results/aff_wild2/features/fer_expr_ft/shard0of1.parquet"]
    assert plan.fine_tuning_labels(w(backbone="fer_expr_ft")) == "results/aff_wild2/index/labels_expr.parquet"
    # Fine-tuning an MAE backbone starts from its pre-trained weights; its precision reruns no training.
    assert plan.fine_tuning_base_weights(w(backbone="vit_mae_expr_ft")) == ["results/backbones/vit_mae/mae.pt"]
    assert "precision" not in plan.fine_tuning_base(w(backbone="fer_expr_ft"))
    assert plan.audio_extractor_gpus(w(backbone="log_mel")) == 0


def test_training_and_prediction_read_their_challenges_tables(plan):
    run = w(experiment="mtl_feedback", target="mtl", fold="0", seed="0")
    assert plan.target_labels(run) == [f"results/s_aff_wild2/index/labels_{t}.parquet" for t in ("va", "expr", "au")]
    assert plan.target_splits(run) == "results/s_aff_wild2/index/splits.parquet"
    assert plan.target_feature_matrices(run) == ["results/s_aff_wild2/features/matrices/fer_mini_xception.npy"]
    assert plan.training_recipe(run)["seed"] == 0
    eri = w(experiment="eri_audio", challenge="eri")
    assert plan.experiment_models(eri) == ["results/models/eri_audio/eri/fold0_seed0/model.pt"]
    assert plan.prediction_feature_rows(eri) == ["results/hume_reaction/features/matrices/log_mel.rows.parquet"]
    assert plan.challenge_tasks(w(challenge="mtl")) == ["va", "expr", "au"]
    assert plan.experiment_models(w(experiment="mtl_feedback", challenge="mtl")) == [
        "results/models/mtl_feedback/mtl/fold0_seed0/model.pt"
    ]
    members = plan.ensemble_member_predictions(w(challenge="va", ensemble="three_encoders"))
    assert members == [f"results/predictions/va/{m}.parquet" for m in ("transformer", "gru", "tcn_transformer")]
    # The score page lists the weights each ensemble of the challenge chose.
    assert plan.challenge_ensemble_weights(w(challenge="va")) == [
        "results/metrics/ensemble_weights/va/mae.csv",
        "results/metrics/ensemble_weights/va/three_encoders.csv",
    ]
    assert plan.ensemble_weighting(w(ensemble="three_encoders")) == {"name": "chosen", "folds": 5, "rounds": 20}
    assert plan.ensemble_weighting(w(ensemble="coarse_to_fine")) == {"name": "fixed"}


def test_scores_and_submissions(plan):
    assert ["mtl", "mtl_feedback"] in plan.scored and plan.scored.index(["va", "gru"]) < plan.scored.index(
        ["va", "three_encoders"]
    )
    assert plan.scored_predictions[0] == f"results/predictions/{plan.scored[0][0]}/{plan.scored[0][1]}.parquet"
    assert plan.submitted_names["mtl"] == "mtl_feedback"
    assert plan.submitted_predictions(w(challenge="va")) == "results/predictions/va/three_encoders.parquet"
    assert plan.submission_index(w(challenge="mtl")) == "results/s_aff_wild2/index/images.parquet"
    assert plan.challenge_media(w(challenge="eri")) == "results/hume_reaction/index/subjects.parquet"
    assert plan.submission_files() == [
        "results/submission/va.txt",
        "results/submission/expr.txt",
        "results/submission/au.txt",
        "results/submission/eri.csv",
        "results/submission/emi.csv",
        "results/submission/ah.txt",
        "results/submission/mtl.txt",
    ]
    assert plan.score_tables("md")[-1] == "results/metrics/mtl.md"


def test_the_abaw3_format_submits_aff_wild2_per_video(config, repository):
    config["submission"]["format"] = "abaw3"
    files = workflow_plan(config, repository).submission_files()
    assert "results/submission/abaw3/va" in files and "results/submission/eri.csv" in files


def test_a_run_without_mtl_has_no_mtl_outputs(repository):
    config = load_config(repository / "config.yaml", {"methods": "demo", "tasks": ["va", "expr", "au"]})
    plan = workflow_plan(config, repository)
    assert "mtl" not in plan.challenges and not any("mtl" in path for path in plan.submission_files())
    assert "results/report/faces/s_aff_wild2.png" not in plan.report_outputs()


def test_the_report_and_its_runtime_table(plan, tmp_path):
    outputs = plan.report_outputs()
    assert "results/report/learning_curves/gru.png" in outputs and "results/report/scores/mtl.html" in outputs
    assert "results/report/validation/au.png" in outputs and outputs[-2:] == [
        "results/report/runtimes.html",
        "results/metrics/report.rst",  # the report's first page
    ]
    jobs = plan.timed_jobs(exists=lambda path: False)
    benchmarks = [bench for bench, _, _ in jobs]
    assert "logs/benchmarks/predict/mtl/mtl_feedback.tsv" in benchmarks
    assert "logs/benchmarks/train_temporal_model/gru/va/fold0_seed0.tsv" in benchmarks
    assert "logs/benchmarks/detect_and_align_faces/aff_wild2/shard0of1.tsv" in benchmarks
    assert "logs/benchmarks/read_face_crops/s_aff_wild2/shard0of1.tsv" in benchmarks
    assert "logs/benchmarks/pretrain_mae/vit_mae.tsv" in benchmarks
    assert "logs/benchmarks/fine_tune_backbone/vit_mae_expr_ft.tsv" in benchmarks
    assert "logs/benchmarks/extract_audio_features/aff_wild2/log_mel.tsv" in benchmarks
    # A job that finished before benchmark files existed is left out rather than rerun to time it.
    finished = {"results/models/gru/va/fold0_seed0/model.pt"}
    kept = [bench for bench, _, _ in plan.timed_jobs(exists=lambda path: str(path) in finished)]
    assert "logs/benchmarks/train_temporal_model/gru/va/fold0_seed0.tsv" not in kept and len(kept) == len(jobs) - 1


def test_the_bundle_holds_the_submitted_models(plan):
    runs = plan.bundle_runs()
    assert ["gru", "va", 0, 0] in runs and all(run[0] in ("transformer", "gru", "tcn_transformer") for run in runs)
    expected = [f"results/predictions/{task}/three_encoders.parquet" for task in plan.aff_wild2_tasks]
    assert sorted(plan.bundle_predictions(w())) == sorted(expected)
    assert plan.bundle_model_files(w())[0].startswith("results/models/")


def test_videos_to_predict_are_looked_up_when_asked(config, repository, tmp_path):
    config["predict"] = {"videos": [str(tmp_path / "missing.mp4")]}
    plan = workflow_plan(config, repository)  # planning the run does not look for them
    with pytest.raises(VideoDecodeError, match="missing.mp4: no such video file or folder"):
        plan.predicted_videos()


def test_the_dataset_fingerprint_of_a_generated_demo_is_its_settings(plan, config):
    assert plan.aff_wild2_files() == plan.setting("demo")


def test_a_bundle_naming_nothing_stops_the_dry_run_even_without_the_bundle_target(config, repository):
    plan = workflow_plan(config, repository)
    plan.check_before_jobs()  # the demo: generated data, package weights, the submitted models bundled
    config["bundle"] = {"models": {"va": "no_such_experiment"}}
    with pytest.raises(ConfigError, match="bundle.models.va is 'no_such_experiment', which is neither an experiment"):
        workflow_plan(config, repository).check_before_jobs()


def test_an_mae_start_checkpoint_is_an_input_and_checked_before_any_job(config, repository, tmp_path):
    import timm
    import torch

    start = tmp_path / "vit.pth"
    config["backbones"]["vit_mae"]["mae"] = {"start_from": str(start)}
    with pytest.raises(ConfigError, match=r"backbones.vit_mae.mae.start_from: .*vit.pth not found"):
        workflow_plan(config, repository).check_before_jobs()
    # Another width than the backbone's (96): named with the keys that differ.
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=64, depth=4)
    torch.save(vit.state_dict(), start)
    with pytest.raises(ConfigError, match=r"backbones.vit_mae.mae.start_from does not fit vit_tiny_patch16_224.*"):
        workflow_plan(config, repository).check_before_jobs()
    options = config["backbones"]["vit_mae"]["model_options"]
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **{**options, "img_size": 64})
    torch.save(vit.state_dict(), start)  # the backbone's ViT at another input size: resampled, fits
    plan = workflow_plan(config, repository)
    plan.check_before_jobs()
    assert plan.mae_start_weights(w(backbone="vit_mae")) == [str(start)]
    assert plan.mae_start_weights(w(backbone="fer_mini_xception")) == []


def test_mae_corpora_are_inputs_and_checked_before_any_job(config, repository, tmp_path):
    plan = workflow_plan(config, repository)
    # By default the training videos' crops of Aff-Wild2, as before corpora existed.
    assert plan.mae_corpora(w(backbone="vit_mae")) == [
        {
            "dataset": "aff_wild2",
            "every": 4,  # the demo's mae.every
            "faces": ["results/aff_wild2/faces/detected/shard0of1.parquet"],
            "splits": "results/aff_wild2/index/splits.parquet",
        }
    ]
    faces = tmp_path / "faces"
    config["backbones"]["vit_mae"]["mae"] = {
        "corpora": [{"dataset": "s_aff_wild2", "images": 500}, {"folder": str(faces), "images": 1000}]
    }
    with pytest.raises(ConfigError, match=r"backbones.vit_mae.mae.corpora\[1\].folder: .*faces not found"):
        workflow_plan(config, repository).check_before_jobs()
    faces.mkdir()
    plan = workflow_plan(config, repository)
    plan.check_before_jobs()
    assert plan.mae_corpus_files(w(backbone="vit_mae")) == [
        "results/s_aff_wild2/faces/cropped_aligned/shard0of1.parquet",
        "results/s_aff_wild2/index/splits.parquet",
        str(faces),
    ]
    assert plan.mae_corpora(w(backbone="vit_mae"))[1] == {"folder": str(faces), "images": 1000}
    config["tasks"] = ["va", "expr", "au", "eri"]
    for challenge in ("mtl", "emi", "ah"):
        config["submission"].pop(challenge)
    with pytest.raises(ConfigError, match=r"corpora\[0\].dataset is s_aff_wild2, which this run does not read"):
        workflow_plan(config, repository).check_before_jobs()
    config["backbones"]["vit_mae"]["mae"] = {"corpora": [{"dataset": "aff_wild2", "folder": str(faces)}]}
    with pytest.raises(ConfigError, match="corpora"):
        workflow_plan(config, repository).check_before_jobs()


def emi_root(root, train_lines=("00001,0,0.5,0,0,0,1",)):
    header = "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy"
    for name, lines in (("train_split.csv", train_lines), ("valid_split.csv", ["00002,1,0,0,0,0,0"])):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("\n".join([header, *lines]) + "\n")
    for folder, files in (("raw", ["00001.mp4", "00002.mp4"]), ("audio", ["00001.mp3", "00002.mp3"])):
        (root / folder).mkdir()
        for name in files:
            (root / folder / name).write_bytes(b"media")
    (root / "test" / "raw").mkdir(parents=True)
    (root / "test" / "raw" / "00003.mp4").write_bytes(b"media")
    (root / "transcripts").mkdir()  # the default config's folder, which the demo's text experiments read
    return root


def test_a_dataset_with_a_registered_reader_gets_its_index_rule_from_the_plan(repository, tmp_path):
    config = load_config(repository / "config.yaml", {"methods": "demo", "tasks": ["emi"]})
    plan = workflow_plan(config, repository)
    assert plan.challenges == ["emi"] and plan.datasets_with_reader == ["hume_vidmimic2"]
    assert plan.generated_datasets == ["hume_vidmimic2"] and plan.demo_root("hume_vidmimic2") == "resources/demo_emi"
    assert plan.media_table_of("hume_vidmimic2") == "results/hume_vidmimic2/index/subjects.parquet"
    assert plan.index_labels("hume_vidmimic2") == ["results/hume_vidmimic2/index/labels_emi.parquet"]
    assert plan.label_tasks("hume_vidmimic2") == ["emi"]
    settings = plan.layout_settings("hume_vidmimic2")
    assert "root" not in settings and settings["video_folder"] == "raw" and settings["id_digits"] == 5
    # The generated demo is identified by the settings of its generator; a user's data by its files.
    assert plan.layout_files("hume_vidmimic2") == {"seed": 0, "videos": 60, "frames": 60}
    plan.check_before_jobs()
    config["emi"]["root"] = str(emi_root(tmp_path / "emi"))
    plan = workflow_plan(config, repository)
    assert plan.generated_datasets == []
    before = plan.layout_files("hume_vidmimic2")
    assert before["files"] == 7
    (tmp_path / "emi" / "test" / "raw" / "00004.mp4").write_bytes(b"media")
    assert workflow_plan(config, repository).layout_files("hume_vidmimic2")["files"] == 8
    plan.check_before_jobs()


def test_a_damaged_label_file_of_a_registered_reader_stops_the_dry_run(repository, tmp_path):
    config = load_config(repository / "config.yaml", {"methods": "demo", "tasks": ["emi"]})
    config["emi"] = {"root": str(emi_root(tmp_path / "emi", train_lines=["00001,0,0.5,0,2,0,1"]))}
    config["emi"]["transcript_folder"] = "transcripts"
    with pytest.raises(AnnotationFormatError, match=r"train_split.csv, line 2: .*Empathic Pain"):
        workflow_plan(config, repository).check_before_jobs()
    (tmp_path / "emi" / "raw" / "00002.mp4").unlink()
    (tmp_path / "emi" / "train_split.csv").write_text(
        "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy\n00001,0,0,0,0,0,0\n"
    )
    with pytest.raises(DatasetLayoutError, match=r"valid_split.csv, line 2: video 00002's file 00002.mp4 is not under"):
        workflow_plan(config, repository).check_before_jobs()


def test_a_challenge_writer_gets_only_its_own_settings(repository):
    config = load_config(
        repository / "config.yaml", {"methods": "demo", "tasks": ["ah"], "ah": {"submission_probabilities": False}}
    )
    plan = workflow_plan(config, repository)
    assert plan.submission_settings(w(challenge="ah")) == {"submission_probabilities": False}
    assert plan.datasets_with_reader == ["bah"] and plan.label_tasks("bah") == ["ah"]
    assert plan.layout_settings("bah")["split_files"] == {
        "test": "test.txt",
        "train": "train.txt",
        "validation": "val.txt",
    }


@pytest.mark.parametrize(
    ("extractor", "maker", "model_file"),
    [
        ("model2vec", "make_model2vec_folder", "model.safetensors"),
        ("sentence_transformers", "make_sentence_transformers_folder", "modules.json"),
    ],
)
def test_a_text_model_folder_is_an_input_and_checked_before_any_job(
    config, repository, tmp_path, extractor, maker, model_file
):
    import support.text_models

    folder = tmp_path / "model"
    config["backbones"]["sentence_words"] = {
        "format": "text",
        "extractor": extractor,
        "text": {"scope": "video", "model_folder": str(folder)},
        "output_width": 16,
    }
    config["experiments"]["ah_text"]["backbones"] = ["sentence_words"]
    with pytest.raises(
        ConfigError, match=rf"backbones.sentence_words.text.model_folder: .*model holds no {model_file}"
    ):
        workflow_plan(config, repository).check_before_jobs()
    getattr(support.text_models, maker)(folder, width=24)
    with pytest.raises(ConfigError, match=r"the model in .*model gives 24 features, but output_width is 16"):
        workflow_plan(config, repository).check_before_jobs()
    config["backbones"]["sentence_words"]["output_width"] = 24
    plan = workflow_plan(config, repository)
    plan.check_before_jobs()
    assert str(folder / model_file) in plan.text_model_files(w(backbone="sentence_words"))
    assert plan.text_model_files(w(backbone="hashed_words")) == []
    spec = plan.backbone_spec(w(backbone="sentence_words"))
    assert spec["text"] == {"scope": "video", "window_seconds": 4.0, "model_folder": str(folder)}  # no hashing keys
    del config["backbones"]["sentence_words"]["text"]["model_folder"]
    with pytest.raises(ConfigError, match=f"sentence_words: {extractor} loads its model from text.model_folder; set"):
        workflow_plan(config, repository)


def test_the_organizers_features_are_backbones_read_from_their_folders(repository, tmp_path):
    root = emi_root(tmp_path / "Hume-Vidmimic2")
    backbones = {
        "organizer_vit": {"format": "precomputed", "output_width": 768},
        "organizer_wav2vec2": {
            "format": "precomputed",
            "precomputed": {"folders": ["wav2vec2", "test/wav2vec2"], "modality": "audio"},
            "output_width": 768,
        },
    }
    experiment = {"tasks": ["emi"], "backbones": ["organizer_vit", "organizer_wav2vec2"]}
    user = {
        "methods": "demo",
        "tasks": ["emi"],
        "emi": {"root": str(root)},
        "backbones": backbones,
        "experiments": {"emi_organizer": {**experiment, "framework": {"name": "audio_visual", "interaction": False}}},
    }
    config = load_config(repository / "config.yaml", user)
    with pytest.raises(ConfigError, match=r"organizer_vit.precomputed.folders: none of vit is a folder under .*Hume"):
        workflow_plan(config, repository).check_before_jobs()
    (root / "vit").mkdir()
    (root / "test" / "wav2vec2").mkdir()
    plan = workflow_plan(config, repository)
    plan.check_before_jobs()
    assert plan.backbones_of("read_precomputed_features") == "organizer_vit|organizer_wav2vec2"
    assert "organizer_vit" not in plan.backbones_of("extract_features").split("|")
    assert plan.plan.inputs("emi_organizer") == "A+V"  # wav2vec2 is sound, the ViT's faces
    before = plan.precomputed_files(w(dataset="hume_vidmimic2", backbone="organizer_vit"))
    (root / "vit" / "00001.pkl").write_bytes(b"features")
    after = plan.precomputed_files(w(dataset="hume_vidmimic2", backbone="organizer_vit"))
    assert before["files"] == 0 and after["files"] == 1 and after["digest"] != before["digest"]


def test_a_bundle_cannot_hold_a_model_of_precomputed_features(config, repository):
    config["backbones"]["organizer_vit"] = {"format": "precomputed", "output_width": 768}
    config["experiments"]["gru"]["backbones"] = ["organizer_vit"]
    config["bundle"] = {"models": {"va": "gru"}}
    with pytest.raises(ConfigError, match="experiment 'gru' reads the precomputed backbone 'organizer_vit'"):
        workflow_plan(config, repository).check_before_jobs()


def test_a_change_to_one_datasets_reader_reruns_nothing_of_the_others(config, tmp_path):
    import dataclasses

    from support.dag import copy_workflow

    from abawflow.core.code_fingerprint import _tree_dump
    from abawflow.datasets.registry import DATASETS
    from abawflow.plan.workflow import described

    workflow = copy_workflow(tmp_path / "workflow").parent
    scripts = ("index_layout.py", "read_face_crops.py", "read_transcripts.py", "make_demo_dataset.py")
    datasets = ("aff_wild2", "s_aff_wild2", "hume_vidmimic2", "bah")

    def codes():
        _tree_dump.cache_clear()  # one Snakemake process reads each file once
        plan = workflow_plan(config, workflow)
        return {(script, name): plan.dataset_code(script, name) for script in scripts for name in datasets}

    before = codes()
    bah = workflow / "abawflow" / "datasets" / "bah.py"
    bah.write_text(bah.read_text() + "\n\ndef numbered_again(n):\n    return n + 1\n")
    registry = workflow / "abawflow" / "datasets" / "registry.py"
    registry.write_text(registry.read_text() + "\n\nANOTHER_DATASET = None\n")
    after = codes()
    changed = sorted({name for key, code in after.items() if code != before[key] for name in [key[1]]})
    assert changed == ["bah"]  # its reader's module; the registry is left out for every dataset
    face = workflow / "abawflow" / "stage_one" / "face_crops.py"
    face.write_text(face.read_text() + "\n\nCROP_QUALITY = 95\n")
    crops = codes()
    assert all(crops[("read_face_crops.py", name)] != after[("read_face_crops.py", name)] for name in datasets)
    # What a dataset's registration says counts: its entry, functions by name.
    entry = DATASETS["bah"]
    assert described(entry) == described(dataclasses.replace(entry))
    assert described(entry) != described(dataclasses.replace(entry, face_sources=("detected",)))
    assert "reader=abawflow.datasets.bah.index_bah" in described(entry) and " at 0x" not in described(entry)
