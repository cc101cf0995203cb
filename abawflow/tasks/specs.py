"""Task specifications: one table of facts per ABAW task, used by every stage.

Nothing downstream branches on the task name; parsing, training, metrics and
submission writing all read these specs.
"""

from dataclasses import dataclass

import numpy as np

from abawflow.tasks.kinds import INTENSITY, MULTI_LABEL, REGRESSION, SINGLE_LABEL, VIDEO_BINARY, TaskKind

EXPRESSIONS = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other")
# ERI (Hume-Reaction): the seven self-reported emotions, as data_info.csv names them.
EMOTIONS = ("Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise")
# EMI (Hume-Vidmimic2): the six mimicked emotions, as its label files name them (a space in "Empathic Pain").
MIMICRY_EMOTIONS = ("Admiration", "Amusement", "Determination", "Empathic Pain", "Excitement", "Joy")
ACTION_UNITS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")


@dataclass(frozen=True)
class TaskSpec:
    name: str  # short name used in paths and config: va, expr, au
    header: tuple  # exact annotation header columns
    label_columns: tuple  # columns stored in the label tables
    kind: TaskKind  # what its labels and outputs are (abawflow.tasks.kinds)
    head_size: int  # model outputs per frame
    missing_value: float  # marker of an unannotated frame
    loss: str  # default loss, a name in models.losses
    submission_header: tuple  # ABAW5/6 single-file submission header

    def validate_row(self, values):
        """Return an error text for one parsed annotation row, or None if valid.

        ``values`` are floats in header order; a row carrying the missing marker
        in any column is valid (it is an unannotated frame).
        """
        if any(value == self.missing_value for value in values):
            return None
        return self.kind.invalid_value(values, self)

    @property
    def granularity(self):
        """frame (a label row per video frame) or video (one per video)."""
        return self.kind.granularity

    @property
    def output_columns(self):
        """Columns of a prediction table holding this task's decoded outputs."""
        return self.kind.output_columns(self)

    def decode(self, outputs):
        return self.kind.decode(outputs)

    def decide(self, values, thresholds=0.5):
        return self.kind.decide(values, np.asarray(thresholds))

    def invalid_outputs(self, values):
        """Where decoded outputs are not finite or lie outside the kind's range: (row, column name, value)
        of the first such value, or None. A model that diverged must not reach a submission as 0s or nan."""
        values = np.asarray(values, dtype=np.float64)
        low, high = self.kind.output_range
        bad = ~np.isfinite(values) | (values < low - 1e-6) | (values > high + 1e-6)
        if not bad.any():
            return None
        row, column = np.argwhere(bad)[0]
        return int(row), self.output_columns[column], float(values[row, column])

    def prior(self, labels):
        """Per-frame outputs of the training prior, from annotated label rows (the label columns)."""
        return self.kind.prior(self, labels)

    def metrics(self, truth, decided):
        """Challenge metrics of decided outputs against the truth, name -> value (``score`` ranks)."""
        return self.kind.metrics(self, truth, decided)

    def score_outputs(self, labels, values, thresholds=0.5):
        """Challenge metrics from label rows (the label columns) and decoded per-frame outputs."""
        truth = self.kind.truth(labels)
        return {
            **self.metrics(truth, self.decide(values, thresholds)),
            **self.kind.ranking_metrics(self, truth, values),
        }


VA = TaskSpec(
    name="va",
    header=("valence", "arousal"),
    label_columns=("valence", "arousal"),
    kind=REGRESSION,
    head_size=2,
    missing_value=-5.0,
    loss="ccc_mse",
    submission_header=("image_location", "valence", "arousal"),
)
EXPR = TaskSpec(
    name="expr",
    header=EXPRESSIONS,
    label_columns=("expression",),
    kind=SINGLE_LABEL,
    head_size=len(EXPRESSIONS),
    missing_value=-1.0,
    loss="cross_entropy",
    submission_header=("image_location",) + EXPRESSIONS,
)
AU = TaskSpec(
    name="au",
    header=ACTION_UNITS,
    label_columns=ACTION_UNITS,
    kind=MULTI_LABEL,
    head_size=len(ACTION_UNITS),
    missing_value=-1.0,
    loss="bce_with_logits",
    submission_header=("image_location",) + ACTION_UNITS,
)

ERI = TaskSpec(
    name="eri",
    header=EMOTIONS,
    label_columns=EMOTIONS,
    kind=INTENSITY,
    head_size=len(EMOTIONS),
    missing_value=-1.0,
    loss="intensity_mse_ce",
    submission_header=("File_ID",) + EMOTIONS,
)

EMI = TaskSpec(
    name="emi",
    header=MIMICRY_EMOTIONS,
    label_columns=MIMICRY_EMOTIONS,
    kind=INTENSITY,
    head_size=len(MIMICRY_EMOTIONS),
    missing_value=-1.0,
    loss="sigmoid_mse",  # most videos' labels are all 0: no emotion peaks, so ERI's top-class term does not apply
    submission_header=("Filename",) + MIMICRY_EMOTIONS,
)

AH = TaskSpec(
    name="ah",
    header=("ambivalence_hesitancy",),  # the split lists' label column (they have no header line)
    label_columns=("ambivalence_hesitancy",),
    kind=VIDEO_BINARY,
    head_size=1,
    missing_value=-1.0,
    loss="bce_with_logits",
    submission_header=(),  # the organizers' files have no header line
)

TASKS = {spec.name: spec for spec in (VA, EXPR, AU)}  # Aff-Wild2's frame-level tasks
ALL_TASKS = {**TASKS, ERI.name: ERI, EMI.name: EMI, AH.name: AH}  # with the tasks of the other datasets


def get_task(name):
    try:
        return ALL_TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(ALL_TASKS)}") from None


def task_head(name):
    """(head size, decoder) of a task, as models.backbones.build_backbone takes them for a fine-tuned backbone."""
    task = get_task(name)
    return task.head_size, task.kind


class TaskLayout:
    """Where each task sits in a model trained on several tasks at once: its slice of the concatenated
    outputs, its slice of the concatenated label columns, and its column of the annotated mask."""

    def __init__(self, tasks):
        tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
        self.tasks = tasks
        self.specs = {task: get_task(task) for task in tasks}
        self.outputs, self.labels = {}, {}
        outputs = labels = 0
        for task, spec in self.specs.items():
            self.outputs[task] = slice(outputs, outputs + spec.head_size)
            self.labels[task] = slice(labels, labels + len(spec.label_columns))
            outputs += spec.head_size
            labels += len(spec.label_columns)
        self.label_width = labels

    def index(self, task):
        return self.tasks.index(task)

    @property
    def head_sizes(self):
        return {task: spec.head_size for task, spec in self.specs.items()}


def task_metrics(task, truth, prediction):
    """Challenge metrics of one task, name -> value; ``prediction`` holds decisions (VA values, EXPR class
    indices, AU 0/1)."""
    return get_task(task).metrics(truth, prediction)


def score_outputs(task, labels, values, thresholds=0.5):
    """Challenge metrics of one task from label rows (label columns) and per-frame decoded outputs."""
    return get_task(task).score_outputs(labels, values, thresholds)
