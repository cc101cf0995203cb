"""Rule merge_feature_shards: concatenate shard tables into one, row group by row group."""

import pyarrow.parquet as pq

from abawflow.core.atomic import atomic_path
from abawflow.core.rule_runner import run


def main(snakemake):
    schema = pq.read_schema(snakemake.input[0])
    with (
        atomic_path(snakemake.output[0]) as temporary,
        pq.ParquetWriter(temporary, schema, compression="zstd") as writer,
    ):
        for path in snakemake.input:
            source = pq.ParquetFile(path)
            for group in range(source.num_row_groups):
                writer.write_table(source.read_row_group(group))


run(snakemake, main)  # noqa: F821
