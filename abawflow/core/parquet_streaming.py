"""Reading a large Parquet table a batch at a time in memory that does not grow with the table."""

import pyarrow.parquet as pq

# pyarrow's default reader pre-buffers whole column chunks ahead of the batches it returns and keeps them, so
# its peak memory grows with the file (benchmarks/measure_parquet_streaming.py); a 1 MiB read buffer does not.
READ_BUFFER_BYTES = 1 << 20


def stream_batches(path, columns, batch_size):
    """Record batches of ``columns`` of the table at ``path``, ``batch_size`` rows each."""
    source = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
    yield from source.iter_batches(batch_size=batch_size, columns=columns)
