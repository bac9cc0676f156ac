"""Write a synthetic Parquet dataset for score-cluster's demo, tests and benchmark.

The dataset is a directory of part files ``part-00000.parquet``, ``part-00001.parquet``, ...
with the columns ``id`` (int64, 0..N-1 in order across the files) and ``f0``..``f{K-1}``
(float64, standard normal). With ``--nulls`` the column ``f0`` of every file gets that
fraction of nulls (rounded per file) at random rows.

Files are written with pyarrow's default settings, exactly as ``pq.write_table`` would
write them (with ``row_group_size`` when given). Each file is generated and written in
slices that are whole row groups, so memory stays bounded whatever ``--rows`` is, and
the bytes are the same as one ``pq.write_table`` call on the whole file.

The output is deterministic for a given seed and arguments.

Example:
    .venv/bin/python scripts/make_dataset.py --rows 1000000 --files 8 --features 16 --out demo-data/input
"""

import argparse
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# pq.write_table's row group size when none is given (pyarrow's _DEFAULT_ROW_GROUP_SIZE).
DEFAULT_ROW_GROUP_SIZE = 1024 * 1024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True, help="total number of rows N")
    parser.add_argument("--files", type=int, required=True, help="number of part files F")
    parser.add_argument("--features", type=int, required=True, help="number of float64 feature columns K")
    parser.add_argument("--out", required=True, help="output directory (created; must be empty if it exists)")
    parser.add_argument("--row-group-size", type=int, default=None,
                        help="maximum rows per row group (default: pyarrow's, 1,048,576)")
    parser.add_argument("--nulls", type=float, default=0.0,
                        help="fraction of nulls in column f0, between 0 and 1 (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be >= 0")
    if args.files < 1:
        parser.error("--files must be >= 1")
    if args.features < 1:
        parser.error("--features must be >= 1")
    if args.row_group_size is not None and args.row_group_size < 1:
        parser.error("--row-group-size must be >= 1")
    if not 0.0 <= args.nulls <= 1.0:
        parser.error("--nulls must be between 0 and 1")
    return args


def schema_for(features):
    """The dataset schema: id int64, then f0..f{K-1} float64."""
    return pa.schema([("id", pa.int64())] + [(f"f{k}", pa.float64()) for k in range(features)])


def slice_bounds(rows, row_group_size):
    """Row ranges of the slices a file is written in: whole row groups, at least one slice."""
    group = row_group_size or DEFAULT_ROW_GROUP_SIZE
    step = group * max(1, -(-DEFAULT_ROW_GROUP_SIZE // group))
    return [(start, min(start + step, rows)) for start in range(0, rows, step)] or [(0, 0)]


def write_file(path, first_id, rows, features, row_group_size, nulls, rng):
    """Write one part file of `rows` rows whose ids start at `first_id`."""
    schema = schema_for(features)
    null_mask = None
    if nulls > 0:
        null_mask = np.zeros(rows, dtype=bool)
        null_mask[rng.choice(rows, size=round(nulls * rows), replace=False)] = True
    with pq.ParquetWriter(path, schema) as writer:
        for start, stop in slice_bounds(rows, row_group_size):
            n = stop - start
            columns = [pa.array(np.arange(first_id + start, first_id + stop, dtype=np.int64))]
            for k in range(features):
                values = rng.standard_normal(n)
                mask = null_mask[start:stop] if (k == 0 and null_mask is not None) else None
                columns.append(pa.array(values, type=pa.float64(), mask=mask))
            writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=row_group_size)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if os.listdir(args.out):
        sys.exit(f"make_dataset: output directory is not empty: {args.out}")
    file_seeds = np.random.SeedSequence(args.seed).spawn(args.files)
    for i in range(args.files):
        first = args.rows * i // args.files
        last = args.rows * (i + 1) // args.files
        write_file(os.path.join(args.out, f"part-{i:05d}.parquet"), first, last - first, args.features,
                   args.row_group_size, args.nulls, np.random.default_rng(file_seeds[i]))


if __name__ == "__main__":
    main()
