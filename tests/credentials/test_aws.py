"""``aws_sts`` against moto's server on loopback, with its IAM enforcement switched on.

moto checks the broker's own identity and the role's policies, not session policies nor
durations (docs/credentials.md says what this proves): the session policy and the duration
Quartermaster sent are therefore checked as moto received them.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
import httpx2
import pytest
from moto.server import ThreadedMotoServer
from moto.sts.models import sts_backends

from quartermaster.config import AwsStsSource
from quartermaster.credentials import AwsSts, LeaseRequest, SourceUnavailable
from quartermaster.vault import SecretValue

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/reports-reader"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::reports/{target_id}",
        }
    ],
}


def client(service: str, url: str, **keys: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=url,
        aws_access_key_id=keys.get("id", "testing"),
        aws_secret_access_key=keys.get("secret", "testing"),
        aws_session_token=keys.get("token"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[str, dict[str, str]]]:
    """moto on a free loopback port: a broker user that may assume the role, the role (it may
    read the reports bucket), two buckets; then IAM enforcement is switched on."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        iam = client("iam", url)
        iam.create_user(UserName="qm-broker")
        iam.put_user_policy(
            UserName="qm-broker",
            PolicyName="assume",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE}]}
            ),
        )  # fmt: skip
        made = iam.create_access_key(UserName="qm-broker")["AccessKey"]
        broker = f"arn:aws:iam::{ACCOUNT}:user/qm-broker"
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": broker}, "Action": "sts:AssumeRole"}]}  # fmt: skip
        iam.create_role(RoleName="reports-reader", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName="reports-reader",
            PolicyName="read-reports",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}
            ),
        )  # fmt: skip
        s3 = client("s3", url)
        for bucket, key in (("reports", "q1.csv"), ("reports", "q2.csv"), ("payroll", "all.csv")):
            if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=f"{bucket}/{key}".encode())
        switched = httpx2.post(
            f"{url}/moto-api/reset-auth", content=b"0", headers={"Content-Type": "text/plain"}
        )
        assert switched.status_code == 200, switched.text
        yield url, {"id": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
    finally:
        server.stop()


def source(url: str, key_id: str, secret: str, **over: Any) -> AwsSts:
    async def broker_key() -> tuple[SecretValue, SecretValue]:
        return SecretValue(key_id), SecretValue(secret)

    config = AwsStsSource.model_validate(
        {
            "kind": "aws_sts",
            "role_arn": ROLE,
            "access_key_id": "env://UNUSED",
            "secret_access_key": "env://UNUSED",
            "endpoint_url": url,
            "policy": POLICY,
            **over,
        }
    )
    return AwsSts("reports-aws", config, broker_key=broker_key)


def request(ttl: float, target: str = "report:q1.csv") -> LeaseRequest:
    return LeaseRequest(
        tenant="acme", run_id="run-7", agent="agent-a", human=None, server="reports",
        tool="reports__read", target=target, risk="read", ttl=ttl,
    )  # fmt: skip


async def test_the_session_reads_what_the_role_allows_and_is_refused_elsewhere(
    aws: tuple[str, dict[str, str]],
) -> None:
    url, broker = aws
    sts = source(url, broker["id"], broker["secret"])
    issued = await sts.issue(request(ttl=120), now=time.time())
    keys = {k: v.reveal() for k, v in issued.values.items()}
    assert keys["access_key_id"].startswith("ASIA")
    assert issued.note == "duration raised to 900 s (the STS minimum), from 120 s"
    assert issued.expires_at == pytest.approx(time.time() + 900, abs=30)
    # What moto received: the session policy narrowed to the target, and the duration.
    [received] = [
        r for r in sts_backends[ACCOUNT]["global"].assumed_roles
        if r.access_key_id == keys["access_key_id"]
    ]  # fmt: skip
    assert json.loads(received.policy) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/q1.csv"}
        ],
    }
    assert received.session_name == "qm-run-7"
    ends = received.expiration.replace(tzinfo=datetime.UTC).timestamp()
    assert ends == pytest.approx(time.time() + 900, abs=30)
    s3 = client(
        "s3", url, id=keys["access_key_id"], secret=keys["secret_access_key"],
        token=keys["session_token"],
    )  # fmt: skip
    body = s3.get_object(Bucket="reports", Key="q1.csv")["Body"].read()
    assert body == b"reports/q1.csv"
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        s3.get_object(Bucket="payroll", Key="all.csv")


async def test_a_long_ttl_is_capped_and_said(aws: tuple[str, dict[str, str]]) -> None:
    url, broker = aws
    sts = source(url, broker["id"], broker["secret"], max_ttl=1200)
    issued = await sts.issue(request(ttl=7200), now=time.time())
    assert issued.note == "duration capped to 1200 s (the source's max_ttl), from 7200 s"


async def test_a_refusal_names_the_source_and_the_aws_error(
    aws: tuple[str, dict[str, str]],
) -> None:
    url, _ = aws
    sts = source(url, "AKIAIOSFODNN7EXAMPLE", "wrong")
    with pytest.raises(SourceUnavailable, match=r"'reports-aws'.*STS refused \("):
        await sts.issue(request(ttl=900), now=time.time())
