"""What an S3 prefix holds, as the tests check it: its objects (key below the prefix -> size),
the multipart uploads open below it, and the partitions its job manifest records (with how many
still hold an open upload). With --download DIR, the part-*.parquet objects are saved there (under their partition directories).

usage: s3_state.py BUCKET PREFIX [--download DIR]   (boto3; AWS_* variables from the environment)
Prints one JSON object."""
import argparse
import json
import os

import boto3

p = argparse.ArgumentParser()
p.add_argument("bucket")
p.add_argument("prefix")
p.add_argument("--download")
a = p.parse_args()
prefix = a.prefix.rstrip("/") + "/"
s3 = boto3.client("s3")
objects = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        objects[o["Key"][len(prefix):]] = o["Size"]
uploads = [u["Key"][len(prefix):] for u in s3.list_multipart_uploads(Bucket=a.bucket, Prefix=prefix).get("Uploads", [])]
recorded, pending = 0, 0
if "_manifest.jsonl" in objects:
    for line in s3.get_object(Bucket=a.bucket, Key=prefix + "_manifest.jsonl")["Body"].read().decode().splitlines()[1:]:
        entry = json.loads(line).get("entry") or {}
        recorded += 1
        pending += 1 if entry.get("upload") else 0
if a.download:
    os.makedirs(a.download, exist_ok=True)
    for key in objects:
        if key.split("/")[-1].startswith("part-"):
            os.makedirs(os.path.dirname(os.path.join(a.download, key)), exist_ok=True)
            s3.download_file(a.bucket, prefix + key, os.path.join(a.download, key))
print(json.dumps({"objects": objects, "uploads": uploads, "recorded": recorded, "pending": pending}))
