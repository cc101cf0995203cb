"""Stage one: decode videos, detect and align faces, run each backbone (and the sound tracks' extractors)
into one Parquet feature table per backbone."""
