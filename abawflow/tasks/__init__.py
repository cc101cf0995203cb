"""The ABAW tasks: what each label holds, how raw outputs become submitted values, and the metrics."""
