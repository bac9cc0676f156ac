"""Turns on request authentication in a moto server: creates an IAM user allowed every S3 action, gives it an
access key, then tells moto (POST /moto-api/reset-auth 0) to check every later request's Signature V4 against
the IAM keys, as AWS does. The bucket and objects the test needs must exist before.

usage: s3_enforce_auth.py ENDPOINT      (boto3; any AWS_* keys work until auth is on)
Prints {"key": ..., "secret": ...}."""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
iam.create_user(UserName="scorer")
iam.put_user_policy(UserName="scorer", PolicyName="s3", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}))
key = iam.create_access_key(UserName="scorer")["AccessKey"]
request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})  # a form body would reach moto empty
urllib.request.urlopen(request).read()
print(json.dumps({"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
