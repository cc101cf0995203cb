"""How a run's config is put together: the embedded default, the user's files over it, the method preset."""

import pytest
import yaml

from abawflow.core.errors import ConfigError
from abawflow.plan.compiler import compile_plan
from abawflow.plan.config_layers import apply_methods, load_config, load_preset, merged


def write(path, text):
    path.write_text(text)
    return path


def test_merging_is_snakemakes_mapping_by_mapping():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merged(base, {"a": {"c": [3]}, "e": {"f": 2}}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 2}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_the_embedded_default_holds_the_demo_preset(repository):
    config = load_config(repository / "config.yaml")
    demo = load_preset("demo")
    assert config["methods"] == "demo"
    assert set(config["experiments"]) == set(demo["experiments"]) and "transformer_random" in config["experiments"]
    assert config["submission"] == {**demo["submission"], "format": "abaw5"}
    # The default itself names no method: nothing of the demo's reaches a user's file except through the preset.
    default = yaml.safe_load((repository / "config.yaml").read_text())
    assert not {"backbones", "experiments", "ensembles"} & set(default)


def test_a_users_file_runs_only_the_methods_it_names(repository, tmp_path):
    mine = write(
        tmp_path / "mine.yaml",
        "tasks: [va]\nbackbones: {face: {architecture: resnet18, allow_random_weights: true, output_width: 512}}\n"
        "experiments: {mine: {backbones: [face], fusion: {name: affine_concat, width: 8},"
        " encoder: {name: gru, hidden: 8}}}\n",
    )
    config = load_config(repository / "config.yaml", mine)
    assert config["methods"] is None
    assert set(config["backbones"]) == {"face"} and set(config["experiments"]) == {"mine"}
    assert config["submission"] == {"format": "abaw5"}
    plan = compile_plan(config)
    assert list(plan.experiments) == ["mine"] and list(plan.challenges) == ["va"]
    assert plan.challenges["va"].submitted == "mine"


def test_a_users_file_that_names_the_preset_layers_on_it(repository, tmp_path):
    tweak = write(tmp_path / "tweak.yaml", "methods: demo\nexperiments: {gru: {tasks: [va]}}\n")
    config = load_config(repository / "config.yaml", tweak)
    assert config["methods"] == "demo"
    assert config["experiments"]["gru"]["tasks"] == ["va"] and "encoder" in config["experiments"]["gru"]
    assert "transformer_random" in config["experiments"]


def test_without_a_file_of_the_users_config_values_keep_the_default_preset(repository):
    config = yaml.safe_load((repository / "config.yaml").read_text())
    user_layer = {"device": "cpu"}  # snakemake --config device=cpu
    assert apply_methods(merged(config, user_layer), user_layer, user_files_given=False)["methods"] == "demo"
    assert apply_methods(merged(config, user_layer), user_layer, user_files_given=True)["methods"] is None


def test_an_unknown_preset_names_the_presets(repository, tmp_path):
    typo = write(tmp_path / "typo.yaml", "methods: dmeo\n")
    with pytest.raises(ConfigError, match="methods is 'dmeo'; the method presets are demo"):
        load_config(repository / "config.yaml", typo)


def test_only_what_runs_is_planned(repository):
    """A backbone runs when a running experiment uses it (or fine-tunes from it); an experiment runs when it
    trains a task of the run; what does not run is listed, not planned."""
    # No eri, no mtl: their experiments and the audio-only ones stop.
    config = load_config(repository / "config.yaml", {"methods": "demo", "tasks": ["va", "expr", "au"]})
    plan = compile_plan(config)
    assert "eri_audio" not in plan.experiments and "mtl_feedback" not in plan.experiments
    assert set(plan.left_out["experiments"]) == {
        "mtl_feedback",
        "eri_audio",
        "eri_visual",
        "eri_audio_visual",
        "eri_audio_visual_interaction",
        "emi_audio",
        "emi_visual",
        "emi_audio_visual",
        "emi_text",
        "emi_audio_visual_text",
        "ah_audio",
        "ah_visual",
        "ah_audio_visual",
        "ah_text",
        "ah_audio_visual_text",
    }
    assert "log_mel" in plan.backbones  # transformer_audio_visual still reads it
    config["experiments"]["transformer_audio_visual"]["tasks"] = ["eri"]
    config["experiments"]["transformer_mae"]["tasks"] = ["eri"]
    config["experiments"]["transformer_mae_expr_head"]["tasks"] = ["eri"]
    plan = compile_plan(config)
    assert "log_mel" not in plan.backbones and set(plan.left_out["backbones"]) == {
        "log_mel",
        "hashed_words",
        "vit_mae",
        "vit_mae_expr_ft",
        "vit_mae_expr_head",
    }
    assert "mae" in plan.left_out["ensembles"]
    config["experiments"]["transformer_fine_tuned"]["backbones"] = ["fer_au_table"]
    config["experiments"]["negative_net"]["backbones"] = ["fer_mini_xception"]
    plan = compile_plan(config)
    assert "fer_mini_xception" in plan.backbones and "fer_expr_ft" not in plan.backbones  # a base is kept


def test_the_demo_preset_on_one_challenge_plans_only_that_challenge(repository):
    """tasks: [eri] with the demo's methods: the Aff-Wild2 experiments, their ensemble and backbones stop, and
    the preset's submissions to the other challenges with them."""
    config = load_config(repository / "config.yaml", {"methods": "demo", "tasks": ["eri"]})
    assert config["submission"] == {"eri": "eri_audio_visual_interaction", "format": "abaw5"}
    plan = compile_plan(config)
    assert list(plan.challenges) == ["eri"] and list(plan.ensembles) == []
    assert set(plan.experiments) == {"eri_audio", "eri_visual", "eri_audio_visual", "eri_audio_visual_interaction"}
    assert set(plan.backbones) == {"fer_mini_xception", "log_mel"} and plan.left_out["ensembles"] == (
        "three_encoders",
        "mae",
        "ah_late_fusion",
        "coarse_to_fine",
    )
    config["ensembles"]["broken"] = {"members": ["eri_audio", "no_such_experiment"]}
    with pytest.raises(ConfigError, match="ensembles.broken.members names no_such_experiment, not under experiments"):
        compile_plan(config)


def test_a_submission_to_a_challenge_not_run_says_how_to_run_it(repository):
    config = load_config(repository / "config.yaml", {"methods": "demo", "tasks": ["eri"], "submission": {"va": "gru"}})
    with pytest.raises(
        ConfigError, match="submission.va is 'gru', but the va challenge is not run \\(tasks: eri\\); add va"
    ):
        compile_plan(config)
