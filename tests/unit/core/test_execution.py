import copy

from abawflow.core import execution
from abawflow.plan.schema import validate_config


def test_execution_settings_come_from_the_validated_config_with_the_schemas_defaults(config):
    config = copy.deepcopy(config)
    for key in ("device", "jpeg_decoding", "video_decoding", "feature_memory_gb", "stage_one_threads"):
        config.pop(key, None)
    config["faces"]["batch_size"] = 16
    config["backbones"]["fer_mini_xception"]["batch_size"] = 128
    settings = execution.settings(validate_config(config))
    assert settings.device == "auto" and settings.jpeg_decoding == "auto" and settings.video_decoding == "host"
    assert settings.faces_batch_size == 16 and settings.stage_one_threads == 8
    assert settings.feature_memory_bytes == 8_000_000_000
    # A fine-tuned backbone runs at its base's batch size; another backbone at the schema's default.
    assert settings.feature_batch_size("fer_expr_ft") == 128 and settings.feature_batch_size("fer_mini_xception") == 128
    assert settings.feature_batch_size("resnet18_random") == 64
