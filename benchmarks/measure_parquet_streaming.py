"""Measure the peak memory of reading a face table's crops a batch at a time, by table size: pyarrow's default
reader against abawflow's (abawflow/core/parquet_streaming.py), each in a fresh process. The tables are
synthetic: 4 kB of random bytes per crop (a 112 px JPEG's size), row groups of 10,000 rows.

Usage: python benchmarks/measure_parquet_streaming.py [--rows 100000 200000] [--workdir DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

READER = """
import sys
import pyarrow.parquet as pq
from abawflow.core.parquet_streaming import stream_batches
path, reader = sys.argv[1], sys.argv[2]
if reader == "pyarrow default":
    batches = pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["subject", "frame", "crop"])
else:
    batches = stream_batches(path, ["subject", "frame", "crop"], 4096)
rows = sum(batch.num_rows for batch in batches)
# VmHWM: this process's own peak (ru_maxrss would keep the parent's from before exec)
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
print(rows, int(peak) / 1024)
"""


def write_table(path, rows):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    generator = np.random.default_rng(0)
    table = pa.table(
        {
            "subject": [f"video{k // 1000:04d}" for k in range(rows)],
            "frame": np.arange(rows) % 1000 + 1,
            "crop": [generator.bytes(4000) for _ in range(rows)],
        }
    )
    pq.write_table(table, path, row_group_size=10_000)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 200_000])
    parser.add_argument("--workdir", type=Path)
    arguments = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=arguments.workdir) as folder:
        for rows in arguments.rows:
            path = Path(folder) / f"faces_{rows}.parquet"
            write_table(path, rows)
            for reader in ("pyarrow default", "stream_batches"):
                output = subprocess.run(
                    [sys.executable, "-c", READER, str(path), reader], check=True, capture_output=True, text=True
                ).stdout.split()
                assert int(output[0]) == rows
                megabytes = path.stat().st_size / 2**20
                results.append(
                    {
                        "rows": rows,
                        "file_mib": round(megabytes),
                        "reader": reader,
                        "peak_rss_mib": round(float(output[1])),
                    }
                )
                print(json.dumps(results[-1]))


if __name__ == "__main__":
    main()
