"""The config plan, without Snakemake: schema check with defaults, every config error path, canonical params."""

import copy

import pytest

from abawflow.core.errors import ConfigError
from abawflow.plan.compiler import MULTITASK, canonical, compile_plan, transcript_source
from abawflow.plan.config_layers import load_config
from abawflow.plan.schema import validate_config


def mistake(config, message):
    with pytest.raises(ConfigError) as raised:
        compile_plan(config)
    assert message in str(raised.value), str(raised.value)
    return str(raised.value)


def test_the_default_config_compiles_with_its_defaults_filled_in(config):
    before = copy.deepcopy(config)
    plan = compile_plan(config)
    assert config == before  # the caller's dict is not changed
    # The challenges run: the video tasks' in config order, then the joint MTL challenge.
    assert list(plan.challenges) == ["va", "expr", "au", "eri", "emi", "ah", "mtl"]
    assert plan.dataset_tasks("aff_wild2") == ("va", "expr", "au") and plan.dataset_tasks("hume_reaction") == ("eri",)
    assert plan.datasets == ("aff_wild2", "hume_reaction", "hume_vidmimic2", "bah", "s_aff_wild2")
    assert plan.shard_names == ("0of1",)
    assert plan.challenges["mtl"].experiments == ("mtl_feedback",) and plan.challenges["mtl"].ensembles == ()
    assert plan.challenges["mtl"].tasks == ("va", "expr", "au") and plan.challenges["eri"].tasks == ("eri",)
    assert {name: run.submitted for name, run in plan.challenges.items()} == {
        "va": "three_encoders",
        "expr": "three_encoders",
        "au": "three_encoders",
        "eri": "eri_audio_visual_interaction",
        "emi": "emi_audio_visual",
        "ah": "ah_audio_visual_text",
        "mtl": "mtl_feedback",
    }
    gru = plan.experiments["gru"]
    assert gru.recipe["optimizer"] == "adamw" and gru.recipe["batch_size"] == 8  # schema default, config value
    assert gru.runs == ((0, 0),) and gru.targets["va"] == "va"
    assert plan.experiments["tcn_transformer"].recipe["window"] == 128
    feedback = plan.experiments["mtl_feedback"]
    assert feedback.tasks == () and feedback.challenges == ("mtl",) and feedback.training_targets == ("mtl",)
    assert feedback.prediction_target("mtl") == "mtl" and gru.prediction_target("va") == "va"
    assert ("va", "three_encoders") in plan.scored and ("expr", "transformer") in plan.scored
    # Per challenge its experiments, then its ensembles, each by name.
    assert [name for challenge, name in plan.scored if challenge == "va"][-1] == "three_encoders"
    assert plan.scored[-1] == ("mtl", "mtl_feedback")


def test_backbones_resolve_their_bases_and_trained_weights(config):
    plan = compile_plan(config)
    fer = plan.backbones["fer_mini_xception"]
    assert fer.weights is None and fer.feature_spec["channels"] == "gray"
    assert "batch_size" not in fer.feature_spec  # execution-only: it never reaches a param
    tuned = plan.backbones["fer_expr_ft"]
    assert tuned.weights == "results/backbones/fer_expr_ft/fine_tuned.pt"
    assert tuned.feature_spec["input_size"] == 64 and tuned.feature_spec["features"] == "backbone"
    assert plan.backbones["fer_au_table"].feature_spec["output_width"] == 12
    mae = plan.backbones["vit_mae"]
    assert mae.feature_spec["format"] == "timm" and mae.weights == "results/backbones/vit_mae/mae.pt"
    # Fine-tuning an MAE backbone starts from its pre-trained weights.
    assert (
        plan.backbones["vit_mae_expr_ft"].feature_spec["weights"] == "results/backbones/vit_mae_expr_ft/fine_tuned.pt"
    )


def test_a_run_recipe_carries_its_seed_fold_and_the_target_tasks_losses(config):
    config["experiments"]["gru"]["losses"] = {"va": {"name": "ccc"}, "au": {"name": "weighted_asymmetric"}}
    config["experiments"]["gru"]["recipe"] = {"seeds": [3, 4], "folds": 2}
    config["experiments"]["basic"] = {
        "backbones": ["fer_mini_xception"],
        "framework": {"name": "basic", "loss_weights": {"va": 2.0}},
    }
    plan = compile_plan(config)
    assert plan.experiments["gru"].runs == ((0, 3), (0, 4), (1, 3), (1, 4))
    recipe = plan.training_recipe("gru", "va", "1", "4")
    assert recipe["seed"] == 4 and recipe["fold"] == 1 and recipe["folds"] == 2
    assert recipe["losses"] == {"va": {"name": "ccc"}} and recipe["loss_weights"] == {}
    assert plan.target_tasks("basic", MULTITASK) == ("va", "expr", "au")
    assert plan.training_recipe("basic", MULTITASK, 0, 0)["loss_weights"] == {"va": 2.0}
    assert plan.target_tasks("mtl_feedback", "mtl") == ("va", "expr", "au")


def test_params_do_not_depend_on_the_key_order_of_the_config(config):
    def reversed_keys(value):
        if isinstance(value, dict):
            return {key: reversed_keys(value[key]) for key in reversed(list(value))}
        return value

    plan, shuffled = compile_plan(config), compile_plan(reversed_keys(config))
    assert plan.scored == shuffled.scored and list(plan.challenges) == list(shuffled.challenges)
    for name in plan.experiments:
        assert repr(canonical(plan.experiments[name].model)) == repr(canonical(shuffled.experiments[name].model))
        assert repr(plan.training_recipe(name, "va", 0, 0)) == repr(shuffled.training_recipe(name, "va", 0, 0))
    for name in plan.backbones:
        assert repr(canonical(plan.backbones[name].feature_spec)) == repr(
            canonical(shuffled.backbones[name].feature_spec)
        )
    # Lists keep their order: it means something (fused backbones, task lists).
    assert canonical({"b": [3, 1], "a": ({"d": 1, "c": 2},)}) == {"a": [{"c": 2, "d": 1}], "b": [3, 1]}
    assert list(canonical({"b": 1, "a": 2})) == ["a", "b"]


def test_plan_objects_are_read_only(config):
    plan = compile_plan(config)
    with pytest.raises(TypeError):
        plan.experiments["gru"].recipe["epochs"] = 1
    with pytest.raises(AttributeError):
        plan.experiments["gru"].tasks.append("va")


# --- schema errors: the key and the expectation, never the schema ------------------------------


def test_a_misspelt_option_names_its_key_and_the_allowed_ones(config):
    config["training"]["epochz"] = 3
    message = mistake(config, "training: Additional properties are not allowed ('epochz' was unexpected)")
    assert "allowed: batch_size, clip_steps, ema, epochs" in message
    assert len(message.splitlines()) < 5


def test_a_value_outside_its_enum_names_the_choices(config):
    config["faces"]["detector"] = "mtcnn"
    mistake(config, "faces.detector: 'mtcnn' is not one of retinaface_mobilenet, insightface_scrfd")


def test_a_wrong_type_names_the_key(config):
    config["experiments"]["gru"]["recipe"] = {"epochs": "ten"}
    mistake(config, "experiments.gru.recipe.epochs: 'ten' is not of type 'integer'")


def test_a_missing_required_key_is_named(config):
    del config["experiments"]["gru"]["backbones"]
    mistake(config, "experiments.gru: 'backbones' is a required property")


def test_several_schema_errors_are_listed_together(config):
    config["faces"]["shards"] = 0
    config["device"] = 3
    message = mistake(config, "device: 3 is not of type 'string'")
    assert "faces.shards: 0 is less than the minimum of 1" in message


def test_validate_config_fills_defaults_in_place(config):
    del config["faces"]["jpeg_quality"]
    validate_config(config)
    assert config["faces"]["jpeg_quality"] == 95
    assert config["backbones"]["fer_expr_ft"]["fine_tuning"]["batch_size"] == 32
    assert config["experiments"]["gru"]["postprocess"] == {"smoothing": 0, "au_thresholds": "fixed"}


# --- cross-key errors: one test per path ---------------------------------------------------------


def test_an_experiment_naming_an_undefined_backbone(config):
    config["experiments"]["gru"]["backbones"] = ["resnet50_missing"]
    mistake(config, "experiments.gru.backbones names 'resnet50_missing', which is not under backbones (defined: ")


def test_an_mtl_experiment_needs_a_multi_task_framework(config):
    del config["experiments"]["mtl_feedback"]["framework"]
    mistake(config, "experiments.mtl_feedback lists the mtl challenge, which needs a multi-task framework")


def test_framework_options_on_the_single_framework(config):
    config["experiments"]["gru"]["framework"] = {"name": "single", "sources": {"expr": "au"}}
    mistake(config, "experiments.gru.framework sets sources, which only multi-task frameworks")


def test_an_ensemble_named_like_an_experiment(config):
    config["ensembles"]["gru"] = {"members": ["transformer"]}
    mistake(config, "ensembles.gru has the name of an experiment; choose another")


def test_an_ensemble_with_an_unknown_member(config):
    config["ensembles"]["bad"] = {"members": ["transformer", "nonexistent"]}
    mistake(config, "ensembles.bad.members names nonexistent, not under experiments")


def test_an_ensemble_with_too_few_weights(config):
    config["ensembles"]["three_encoders"].update(weighting="fixed", weights=[1.0, 2.0])
    mistake(config, "ensembles.three_encoders has 3 members but 2 weights")


def test_an_ensemble_with_weights_and_a_weighting_that_chooses_them(config):
    config["ensembles"]["three_encoders"].update(weighting="greedy", weights=[1.0, 2.0, 1.0])
    mistake(config, "ensembles.three_encoders sets weights and weighting: greedy, which chooses them; drop one")


def test_an_ensemble_chosen_on_validation_is_planned_with_its_weighting(config):
    plan = compile_plan(config)
    assert dict(plan.ensembles["three_encoders"].weighting) == {"name": "chosen", "folds": 5, "rounds": 20}
    assert plan.inputs("three_encoders") == "best weighting on validation of 3"
    config["ensembles"]["three_encoders"].update(weighting="greedy", rounds=8)
    plan = compile_plan(config)
    assert dict(plan.ensembles["three_encoders"].weighting) == {"name": "greedy", "folds": 5, "rounds": 8}
    assert plan.inputs("three_encoders") == "chosen on validation of 3"
    config["ensembles"]["three_encoders"].update(weighting="fitted", folds=3)
    assert compile_plan(config).inputs("three_encoders") == "fitted on validation of 3"
    config["ensembles"]["three_encoders"].update(weighting="fixed")
    del config["ensembles"]["three_encoders"]["rounds"], config["ensembles"]["three_encoders"]["folds"]
    assert dict(compile_plan(config).ensembles["three_encoders"].weighting) == {"name": "fixed"}


def test_an_ensemble_covering_a_task_a_member_does_not_train(config):
    config["experiments"]["gru"]["tasks"] = ["va"]
    config["ensembles"]["three_encoders"]["tasks"] = ["va", "au"]
    mistake(config, "ensembles.three_encoders covers au, which not every member trains")


def test_a_submitted_experiment_that_does_not_train_the_task(config):
    config["experiments"]["transformer_random"]["tasks"] = ["va"]
    config["submission"]["au"] = "transformer_random"
    mistake(config, "task 'au' has no experiment to submit: submission.au is 'transformer_random'")


def test_a_submitted_name_that_is_neither_experiment_nor_ensemble(config):
    config["submission"]["expr"] = "small_transformer"
    mistake(config, "task 'expr' has no experiment to submit: submission.expr is 'small_transformer'")


def test_a_task_that_no_experiment_trains(config):
    for experiment in config["experiments"].values():
        experiment.setdefault("tasks", ["va", "expr"])
        experiment["tasks"] = [task for task in experiment["tasks"] if task != "au"]
    config["ensembles"] = {}
    config["submission"] = {}
    mistake(config, "tasks lists 'au', but no experiment trains it: name one under experiments (methods: demo adds")


def test_the_mtl_submission_must_train_the_mtl_challenge(config):
    config["submission"]["mtl"] = "gru"
    mistake(config, "submission.mtl is 'gru', but the experiments and ensembles of the mtl challenge are: mtl_feedback")


def test_a_fine_tuned_backbone_on_an_undefined_base(config):
    config["backbones"]["fer_expr_ft"]["base"] = "resnet50_missing"
    mistake(config, "backbones.fer_expr_ft.base is 'resnet50_missing'; it must name an image backbone that is not")


def test_a_fine_tuned_backbone_on_a_fine_tuned_base(config):
    config["backbones"]["fer_expr_ft"]["base"] = "fer_au_table"
    mistake(config, "backbones.fer_expr_ft.base is 'fer_au_table'; it must name an image backbone that is not")


def test_a_fine_tuned_backbone_on_a_task_not_run(config):
    config["tasks"] = ["va", "expr", "mtl"]
    config["submission"].pop("au")
    mistake(config, "backbones.fer_au_table.task is 'au'; it must be one of the tasks run (va, expr)")


# --- components: names and options checked against the registries -------------------------------


def test_an_unknown_encoder_stops_the_plan(config):
    config["experiments"]["gru"]["encoder"] = {"name": "transformr"}
    mistake(config, "experiments.gru.encoder: unknown encoder 'transformr'; registered: attention_concat, gru, lstm,")


def test_an_unknown_option_of_a_component_names_the_accepted_ones(config):
    config["experiments"]["transformer"]["encoder"]["layerz"] = 2
    mistake(
        config,
        "experiments.transformer.encoder: encoder 'transformer' takes no option 'layerz'; "
        "its options: layers, heads, feedforward, dropout",
    )


def test_fusion_head_loss_and_task_encoder_are_checked_too(config):
    cases = [
        (("fusion",), {"name": "affine_concat", "widht": 3}, "experiments.gru.fusion: fusion 'affine_concat'"),
        (("heads",), {"expr": {"name": "cascade"}}, "experiments.gru.heads.expr: unknown head 'cascade'"),
        (("losses",), {"au": {"name": "focal", "gama": 2}}, "experiments.gru.losses.au: loss 'focal' takes no"),
        (
            ("framework",),
            {"name": "share_bottom", "task_encoder": {"name": "gru", "hiden": 3}},
            "experiments.gru.framework.task_encoder: encoder 'gru' takes no option 'hiden'",
        ),
    ]
    for (key,), value, message in cases:
        broken = copy.deepcopy(config)
        broken["experiments"]["gru"][key] = value
        mistake(broken, message)


def test_feedback_sources_must_be_tasks_of_the_experiment(config):
    config["experiments"]["gru"]["tasks"] = ["va", "expr"]
    config["experiments"]["gru"]["framework"] = {"name": "feedback", "sources": {"expr": "au"}}
    config["ensembles"]["three_encoders"]["members"] = ["transformer", "tcn_transformer"]
    mistake(config, "experiments.gru.framework.sources feeds au into expr, but the experiment trains expr, va")


@pytest.mark.parametrize("layer", ["config/papers.yaml", "tests/configs/tiny.yaml", "tests/configs/small_dag.yaml"])
def test_the_shipped_configs_compile(repository, layer):
    plan = compile_plan(load_config(repository / "config.yaml", repository / layer))
    assert plan.experiments and all(run.submitted for run in plan.challenges.values())


def test_an_ensemble_of_mtl_experiments_averages_the_mtl_challenge(config):
    config["experiments"]["mtl_basic"] = {
        "tasks": ["mtl"],
        "backbones": ["fer_mini_xception"],
        "framework": {"name": "basic"},
    }
    config["ensembles"]["mtl_pair"] = {"members": ["mtl_feedback", "mtl_basic"]}
    config["submission"]["mtl"] = "mtl_pair"
    plan = compile_plan(config)
    assert plan.ensembles["mtl_pair"].challenges == ("mtl",)
    assert plan.challenges["mtl"].ensembles == ("mtl_pair",) and plan.challenges["mtl"].submitted == "mtl_pair"
    assert plan.challenges["mtl"].scored == ("mtl_basic", "mtl_feedback", "mtl_pair")
    assert plan.ensembles["three_encoders"].challenges == ("va", "expr", "au")


def test_an_mtl_ensemble_needs_mtl_members(config):
    config["ensembles"]["mixed"] = {"members": ["mtl_feedback", "gru"], "tasks": ["mtl"]}
    mistake(config, "ensembles.mixed covers mtl, which not every member trains")


def test_each_dataset_has_its_root_and_face_source(config):
    plan = compile_plan(config)
    assert dict(plan.dataset_roots) == {
        "aff_wild2": "resources/demo",
        "s_aff_wild2": "resources/demo_mtl",
        "hume_reaction": "resources/demo_eri",
        "hume_vidmimic2": "resources/demo_emi",
        "bah": "resources/demo_ah",
    }
    assert dict(plan.face_sources) == {
        "aff_wild2": "detected",
        "s_aff_wild2": "cropped_aligned",
        "hume_reaction": "detected",
        "hume_vidmimic2": "detected",
        "bah": "detected",
    }
    config["dataset"]["face_source"] = "cropped_aligned"
    assert compile_plan(config).face_sources["aff_wild2"] == "cropped_aligned"


def test_a_face_source_the_layout_does_not_offer(config):
    config["dataset"]["face_source"] = "organizers"
    with pytest.raises(ConfigError, match=r"dataset.face_source: 'organizers' is not one of.*cropped_aligned"):
        compile_plan(config)
    # s-Aff-Wild2 ships crops only; past the schema, the plan still refuses detection there.
    config["dataset"]["face_source"] = "detected"
    validate_config(config)
    config["mtl"]["face_source"] = "detected"
    with pytest.raises(
        ConfigError, match="mtl.face_source is 'detected'; the s_aff_wild2 layout offers cropped_aligned"
    ):
        compile_plan(config, validate=False)


def test_audio_backbones_are_audio_and_keep_only_the_keys_their_extractor_reads(config):
    plan = compile_plan(config)
    assert plan.backbones["log_mel"].modality == "audio" and plan.backbones["fer_mini_xception"].modality == "vision"
    spec = plan.backbones["log_mel"].feature_spec
    assert set(spec) == {"format", "extractor", "audio", "output_width"}
    assert dict(spec["audio"]) == {"sample_rate": 16000, "window_seconds": 1.0, "mels": 32}


def test_an_audio_backbone_without_an_extractor(config):
    del config["backbones"]["log_mel"]["extractor"]
    mistake(config, "backbones.log_mel is an audio backbone; set its extractor to one of log_mel_statistics")


def test_a_log_mel_width_that_is_not_twice_the_bands(config):
    config["backbones"]["log_mel"]["output_width"] = 32
    mistake(config, "log_mel_statistics gives 2 x mels = 64 features, but output_width is 32")


def test_deep_spectrum_needs_its_image_cnn(config):
    config["backbones"]["spectrum"] = {"format": "audio", "extractor": "deep_spectrum", "output_width": 1024}
    config["experiments"]["transformer"]["backbones"] = ["spectrum"]
    mistake(config, "backbones.spectrum (deep_spectrum) needs `architecture`")


def test_a_fine_tuned_backbone_cannot_start_from_audio(config):
    config["backbones"]["fer_expr_ft"]["base"] = "log_mel"
    mistake(config, "it must name an image backbone that is not itself fine-tuned")


def test_the_mtl_challenge_has_no_sound(config):
    config["experiments"]["mtl_feedback"]["backbones"] = ["fer_mini_xception", "log_mel"]
    mistake(config, "experiments.mtl_feedback lists the mtl challenge and the audio backbone 'log_mel'")


def test_clips_and_the_audio_visual_model_are_for_video_level_tasks(config):
    config["experiments"]["gru"]["recipe"] = {"clip_steps": 16}
    mistake(config, "experiments.gru uses recipe.clip_steps, which gives one output per video, on the frame-level task")
    config["experiments"]["gru"]["recipe"] = {}
    config["experiments"]["gru"]["framework"] = {"name": "audio_visual"}
    mistake(config, "experiments.gru uses framework audio_visual, which gives one output per video")


def test_the_eri_experiments_read_table_one(config):
    plan = compile_plan(config)
    assert [plan.inputs(name) for name in ("eri_audio", "eri_visual", "eri_audio_visual")] == ["A", "V", "A+V"]
    assert plan.inputs("eri_audio_visual_interaction") == "A+V+AV" and plan.inputs("transformer") == "V"
    framework = plan.experiments["eri_audio_visual"].model["framework"]
    assert list(framework["modalities"]) == ["vision", "audio"] and framework["interaction"] is False
    assert plan.experiments["eri_audio"].tasks == ("eri",) and "eri" not in plan.experiments["transformer"].tasks


def test_one_multi_task_model_cannot_span_two_datasets(config):
    config["experiments"]["basic"] = {
        "tasks": ["va", "eri"],
        "backbones": ["fer_mini_xception"],
        "framework": {"name": "basic"},
    }
    mistake(
        config, "experiments.basic trains one basic model on tasks of different datasets (aff_wild2, hume_reaction)"
    )


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ({"device": "cpu"}, "device is cpu"),
        ({"faces": {"detector_backend": "onnxruntime"}}, "faces.detector_backend is onnxruntime"),
        ({"faces": {"detector": "insightface_scrfd"}}, "faces.detector is insightface_scrfd, which runs on"),
    ],
)
def test_nvdec_without_the_torch_detector_on_a_gpu_is_refused_at_plan_time(config, setting, problem):
    config["video_decoding"] = "nvdec"
    compile_plan(config)  # the default: the torch detector on the GPU when there is one
    for key, value in setting.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    with pytest.raises(ConfigError, match=f"video_decoding is nvdec but {problem}"):
        compile_plan(config)


def test_the_two_network_cascade_is_planned_with_its_negative_net(config):
    plan = compile_plan(config)
    cascade = plan.ensembles["coarse_to_fine"]
    assert cascade.members == ("coarse_net",) and dict(cascade.cascade) == {
        "negative": "negative_net",
        "routing": "hard",
    }
    assert cascade.challenges == ("expr",) and "coarse_to_fine" in plan.challenges["expr"].ensembles
    assert plan.inputs("coarse_to_fine") == "cascade (coarse, then negative)"
    config["ensembles"]["coarse_to_fine"]["members"] = ["coarse_net", "transformer"]
    assert compile_plan(config).inputs("coarse_to_fine") == "cascade (mean of 2 coarse, then negative)"
    # The negative net trains with the only loss its head allows; the coarse net with EXPR's default.
    assert dict(plan.experiments["negative_net"].losses) == {"expr": {"name": "negative_cross_entropy"}}
    assert dict(plan.experiments["coarse_net"].losses) == {}
    assert plan.training_recipe("negative_net", "expr", 0, 0)["losses"] == {"expr": {"name": "negative_cross_entropy"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"negative": "nonexistent"}, "ensembles.coarse_to_fine.cascade.negative names 'nonexistent', not under"),
        ({"negative": "coarse_net"}, "'coarse_net' is both the negative net and a coarse member"),
        ({"tasks": ["va"]}, "ensembles.coarse_to_fine is a cascade, which predicts expr only; set tasks: [expr]"),
        ({"loss": "focal"}, "experiments.negative_net.losses.expr is 'focal', but the expression_negative head"),
    ],
)
def test_a_cascade_that_cannot_run_is_refused_at_plan_time(config, change, message):
    ensemble = config["ensembles"]["coarse_to_fine"]
    if "negative" in change:
        ensemble["cascade"]["negative"] = change["negative"]
    if "tasks" in change:
        ensemble["tasks"] = change["tasks"]
    if "loss" in change:
        config["experiments"]["negative_net"]["losses"] = {"expr": {"name": change["loss"]}}
    mistake(config, message)


def test_a_cascade_whose_negative_net_does_not_train_expr(config):
    # Where EXPR is not run at all, the cascade is left out with its nets (test_config_layers.py).
    config["experiments"]["negative_net"]["tasks"] = ["va"]
    mistake(config, "ensembles.coarse_to_fine covers expr, which not every member trains")


def heard(dataset, config):
    """Where text backbones get ``dataset``'s words under ``config`` (its defaults filled in)."""
    filled = copy.deepcopy(config)
    validate_config(filled)
    return transcript_source(dataset, filled)


def test_text_backbones_read_transcripts_or_what_speech_recognition_hears(config):
    tasks, submission = config["tasks"], config["submission"]
    config["tasks"] = ["ah", "eri"]
    config["submission"] = {"eri": config["submission"]["eri"]}
    plan = compile_plan(config)
    assert plan.backbones["hashed_words"].modality == "text"
    assert set(plan.backbones["hashed_words"].feature_spec) == {"format", "extractor", "text", "output_width"}
    assert plan.inputs("ah_audio_visual_text") == "A+V+T"
    assert heard("bah", config) == "files"
    # Hume-Reaction ships no transcripts but has sound: its words come from speech recognition.
    config["experiments"]["eri_audio"]["backbones"] = ["log_mel", "hashed_words"]
    assert "T" in compile_plan(config).inputs("eri_audio").split("+")
    assert heard("hume_reaction", config) == "speech_recognition"
    config["emi"]["transcript_folder"] = ""  # EMI ships none: without the researcher's own, recognized
    assert heard("hume_vidmimic2", config) == "speech_recognition"
    # s-Aff-Wild2 holds images: no transcripts, no sound.
    config["tasks"], config["submission"] = tasks, submission
    config["experiments"]["mtl_feedback"]["backbones"].append("hashed_words")
    assert heard("s_aff_wild2", config) is None
    mistake(
        config,
        "experiments.mtl_feedback reads the text backbone 'hashed_words', but the mtl challenge's dataset "
        "(s_aff_wild2) has neither transcripts nor sound to transcribe",
    )
    config["tasks"] = ["ah", "eri"]
    config["experiments"]["eri_audio"]["backbones"] = ["log_mel"]
    config["backbones"]["hashed_words"]["output_width"] = 64
    mistake(config, "hashed_words gives text.width = 256 features, but output_width is 64")


def test_trial_entries_name_what_predicts_their_challenge(config):
    config["submission"]["trials"] = {"ah": ["ah_audio_visual_text", "ah_late_fusion"]}
    plan = compile_plan(config)
    assert plan.challenges["ah"].trials == ("ah_audio_visual_text", "ah_late_fusion")
    assert plan.challenges["va"].trials == ()
    config["submission"]["trials"] = {"ah": ["ah_audio_visual_text", "gru"]}
    mistake(config, "config: submission.trials.ah lists 'gru', which does not predict ah (those that do: ah_audio, ")
    config["submission"]["trials"] = {"ah": ["ah_text"] * 6}
    mistake(config, "submission.trials.ah")  # at most five: the schema
    config["submission"]["trials"] = {"va": ["gru"]}
    config["submission"]["format"] = "abaw3"
    mistake(config, "config: submission.trials.va: trial files are single files; set submission.format to abaw5")
    config["submission"] = {"trials": {"eri": ["eri_audio"]}}
    config["tasks"] = ["va", "expr", "au", "emi"]
    mistake(config, "config: submission.trials.eri: the eri challenge is not run (tasks: va, expr, au, emi")
