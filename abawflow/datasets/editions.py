"""The folder and file names each ABAW release gives Aff-Wild2's annotations: ``dataset.edition`` fills in
``annotation_folder``, ``challenge_folders`` and ``test_lists`` with its release's names, each overridable.

Sources: the participants' code of each edition that reads the released archives as they unpack (the
names below are those paths), and the 6th ABAW's release for the default. The 4th and 7th ABAW released no
per-task Aff-Wild2 annotations: their challenges were MTL on s-Aff-Wild2 (the ``mtl`` section) and, in the
7th, compound expressions. A release not listed here is configured by setting the three names.
"""

from copy import deepcopy

from abawflow.core.errors import ConfigError

TEST_LISTS = "names_of_videos_in_each_test_set"


def _names(annotation_folder, expr_folder, expr_test_list):
    return {
        "annotation_folder": annotation_folder,
        "challenge_folders": {"va": "VA_Estimation_Challenge", "expr": expr_folder, "au": "AU_Detection_Challenge"},
        "test_lists": {
            "va": f"{TEST_LISTS}/Valence_Arousal_Estimation_Challenge_test_set_release.txt",
            "expr": f"{TEST_LISTS}/{expr_test_list}_test_set_release.txt",
            "au": f"{TEST_LISTS}/Action_Unit_Detection_Challenge_test_set_release.txt",
        },
    }


EDITIONS = {
    3: _names("Third ABAW Annotations", "EXPR_Classification_Challenge", "Expression_Classification_Challenge"),
    4: None,  # MTL on s-Aff-Wild2, and learning from synthetic data
    5: _names("5th_ABAW_Annotations", "EXPR_Classification_Challenge", "Expression_Classification_Challenge"),
    6: _names("6th_ABAW_Annotations", "EXPR_Recognition_Challenge", "Expression_Recognition_Challenge"),
    7: None,  # MTL on s-Aff-Wild2, and compound expressions
}
NAME_KEYS = ("annotation_folder", "challenge_folders", "test_lists")


def fill_edition_names(dataset):
    """Put the edition's names under the keys the ``dataset`` section leaves out, in place. An edition
    without per-task annotations fills in empty names (the plan refuses them where VA, EXPR or AU run)."""
    edition = EDITIONS.get(dataset["edition"]) or {
        "annotation_folder": "",
        "challenge_folders": dict.fromkeys(("va", "expr", "au"), ""),
        "test_lists": dict.fromkeys(("va", "expr", "au"), ""),
    }
    for key in NAME_KEYS:
        if isinstance(edition[key], dict):
            dataset[key] = {**deepcopy(edition[key]), **dataset.get(key, {})}
        else:
            dataset.setdefault(key, edition[key])
    return dataset


def check_edition_names(dataset, tasks):
    """Every name the run's Aff-Wild2 tasks read is set: an edition without per-task annotations needs them
    set by hand."""
    missing = [] if dataset["annotation_folder"] else ["annotation_folder"]
    missing += [
        f"{key}.{task}" for key in ("challenge_folders", "test_lists") for task in tasks if not dataset[key][task]
    ]
    if missing:
        raise ConfigError(
            f"config: dataset.edition is {dataset['edition']}, whose release holds no per-task Aff-Wild2 "
            f"annotations, and dataset.{', dataset.'.join(missing)} is not set; set the names of your copy, "
            f"or take {', '.join(tasks)} out of tasks (editions with them: "
            f"{', '.join(str(e) for e, names in EDITIONS.items() if names)})"
        )
