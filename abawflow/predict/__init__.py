"""Stage two's prediction: prediction tables of experiments, ensembles, post-processing, model bundles
and prediction on any video (``abawflow predict``)."""
