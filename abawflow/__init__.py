"""abawflow: library code behind the Snakemake workflow (parsing, faces, features, training, metrics, submission)."""
