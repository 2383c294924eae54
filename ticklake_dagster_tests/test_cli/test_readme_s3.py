"""The README's "any S3-compatible store" block, run line by line against moto's S3 server over HTTP.

Its `export` lines are applied with the placeholders replaced by the test server's endpoint, region and
keys; `aws s3 mb` is done with boto3 (the AWS CLI is not a dependency); every `.venv/bin/ticklake` line
runs as the user would run it. Before the bucket exists, the same commands fail with one line naming it.
"""

import re
import shlex
import uuid
from pathlib import Path

import boto3

from ticklake_dagster_tests.test_cli.test_commands import assert_one_line_error, ticklake

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
MARKER = "Any S3-compatible store, copy-paste"


def readme_block() -> list[str]:
    after = README[README.index(MARKER) :]
    block = re.search(r"```bash\n(.*?)```", after, re.S)
    assert block, "the README lost its S3 quick path"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_s3_quick_path_works_as_written(env, s3_endpoint):
    bucket = f"my-ticks-{uuid.uuid4().hex[:8]}"
    placeholders = {
        "R2_ENDPOINT": s3_endpoint,
        "R2_REGION": "us-east-1",
        "R2_ACCESS_KEY_ID": "test",
        "R2_SECRET_ACCESS_KEY": "test",
        "TICKLAKE_LAKE_URL": f"s3://{bucket}",
    }
    lines = readme_block()
    exported = {}
    for line in lines:
        if line.startswith("export "):
            for pair in shlex.split(line[len("export ") :]):
                name, _, _ = pair.partition("=")
                exported[name] = placeholders[name]
    assert set(exported) == set(placeholders), "the block sets exactly the variables that go together"
    env = {**env, **exported}

    commands = [shlex.split(line) for line in lines if line.startswith(".venv/bin/ticklake ")]
    assert len(commands) == 3 and any(line.startswith("aws s3 mb ") for line in lines)
    missing = ticklake(env, *commands[0][1:], check=False)  # before the bucket exists
    assert_one_line_error(missing, f"Lake bucket does not exist: s3://{bucket}/ at {s3_endpoint}*")

    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)  # `aws s3 mb s3://my-ticks --endpoint-url "$R2_ENDPOINT"`
    outputs = [ticklake(env, *command[1:]).stdout for command in commands]
    assert "BTC-USD 2025-11-16: built 288 candles" in outputs[1]  # crypto trades on Sunday
    assert "BTC-USD 2025-11-15: built 288 candles" in outputs[1]
    assert "BTC-USD" in outputs[2] and f"s3://{bucket}" in outputs[2]
