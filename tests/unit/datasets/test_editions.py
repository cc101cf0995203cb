"""dataset.edition: each ABAW release's folder and list names, filled in where the config leaves them out;
a name that is not in the user's copy stops the plan, naming what is there."""

import shutil

import pytest

from abawflow.core.errors import ConfigError, DatasetLayoutError
from abawflow.datasets.aff_wild2 import check_layout
from abawflow.datasets.demo.aff_wild2 import make_demo_dataset
from abawflow.datasets.editions import EDITIONS
from abawflow.plan.compiler import compile_plan
from abawflow.plan.schema import validate_config

TASKS = ["va", "expr", "au"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("edition") / "data", seed=2, videos=4, frames_per_video=40)


def layout(dataset):
    names = ("annotation_folder", "challenge_folders", "test_lists", "video_folder")
    return [dataset["root"], *(dataset[key] for key in names), TASKS]


def test_each_edition_fills_in_its_names_and_the_users_win(config):
    config["dataset"]["edition"] = 5
    config["dataset"]["test_lists"] = {"au": "lists/au.txt"}
    dataset = validate_config(config)["dataset"]
    assert dataset["annotation_folder"] == "5th_ABAW_Annotations"
    assert dataset["challenge_folders"]["expr"] == "EXPR_Classification_Challenge"
    assert dataset["test_lists"]["expr"].endswith("Expression_Classification_Challenge_test_set_release.txt")
    assert dataset["test_lists"]["au"] == "lists/au.txt"
    assert EDITIONS[3]["annotation_folder"] == "Third ABAW Annotations"
    assert EDITIONS[6]["challenge_folders"]["expr"] == "EXPR_Recognition_Challenge"


def test_an_edition_without_per_task_annotations_needs_the_names_set(config):
    config["dataset"]["edition"] = 7
    with pytest.raises(ConfigError, match="dataset.edition is 7, whose release holds no per-task Aff-Wild2"):
        compile_plan(config)
    config["dataset"].update({"annotation_folder": "mine", "challenge_folders": dict.fromkeys(TASKS, "x")})
    config["dataset"]["test_lists"] = dict.fromkeys(TASKS, "list.txt")
    compile_plan(config)


def test_the_demo_is_the_sixth_editions_layout(demo):
    dataset = validate_config({"dataset": {"root": str(demo)}})["dataset"]
    check_layout(*layout(dataset))


def test_another_editions_names_stop_the_plan_naming_what_is_there(demo, tmp_path):
    dataset = validate_config({"dataset": {"root": str(demo), "edition": 5}})["dataset"]
    with pytest.raises(DatasetLayoutError) as error:
        check_layout(*layout(dataset))
    message = str(error.value)
    assert f"{demo / '5th_ABAW_Annotations'}: folder not found (dataset.annotation_folder;" in message
    assert f"{demo} holds: 6th_ABAW_Annotations/, cropped_aligned/, names_of_videos_in_each_test_set/" in message
    copy = shutil.copytree(demo, tmp_path / "copy")
    (copy / "6th_ABAW_Annotations").rename(copy / "5th_ABAW_Annotations")
    dataset["root"] = str(copy)
    with pytest.raises(DatasetLayoutError, match="EXPR_Classification_Challenge: folder not found .*holds: AU_De"):
        check_layout(*layout(dataset))
