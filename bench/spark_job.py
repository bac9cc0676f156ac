"""The spark_udf system of the benchmark: score a Parquet dataset with mlflow.pyfunc.spark_udf.

What a Spark user runs today, in one process started by the benchmark (which measures the
whole process: Python and pyspark start-up, the JVM, the session, the UDF, the job, stop):

    spark = SparkSession.builder.master("local[N]").getOrCreate()
    udf = mlflow.pyfunc.spark_udf(spark, MODEL, result_type="double", env_manager="local")
    spark.read.parquet(INPUT).withColumn("prediction", udf(*FEATURE_COLUMNS)).write.parquet(OUTPUT)

The job alone (read -> withColumn -> write, timed in the driver around those calls) is
printed on stdout as ``bench-spark-job-seconds S``; the benchmark reports both times.

Needs pyspark (scripts/requirements-bench.txt) and Java 17 or later.

Example:
    .venv/bin/python bench/spark_job.py --model M --input D --output O --columns f0,f1 --workers 2
"""

import argparse
import contextlib
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="MLflow pyfunc model directory")
    parser.add_argument("--input", required=True, help="input Parquet dataset directory")
    parser.add_argument("--output", required=True, help="output directory (must not exist)")
    parser.add_argument("--columns", required=True, help="comma-separated feature columns, in model order")
    parser.add_argument("--workers", type=int, default=2, help="Spark master local[N] (default: 2)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark configuration, repeatable")
    args = parser.parse_args(argv)

    # Spark's Python workers must run this interpreter (the one with mlflow and the model's packages).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col

    builder = SparkSession.builder.master(f"local[{args.workers}]").appName("score-cluster-bench-spark-udf")
    for setting in args.conf:
        key, _, value = setting.partition("=")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:
        with contextlib.redirect_stdout(sys.stderr):
            import mlflow.pyfunc

            udf = mlflow.pyfunc.spark_udf(spark, os.path.abspath(args.model), result_type="double",
                                          env_manager="local")
        start = time.perf_counter()
        frame = spark.read.parquet(os.path.abspath(args.input))
        scored = frame.withColumn("prediction", udf(*[col(name) for name in args.columns.split(",")]))
        scored.write.parquet(os.path.abspath(args.output))
        job_seconds = time.perf_counter() - start
    finally:
        spark.stop()
    print(f"bench-spark-job-seconds {job_seconds:.6f}", flush=True)


if __name__ == "__main__":
    main()
