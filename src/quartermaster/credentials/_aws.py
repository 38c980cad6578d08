"""``aws_sts``: temporary AWS credentials per call, ``AssumeRole`` with an inline session policy.

The session policy is the declared template with the call's target put in, so the session can
do at most what both the role's own policies and that policy allow; its duration is the
grant's lifetime, raised to STS's 15-minute minimum or capped at ``max_ttl`` (and the lease
says which). The AWS SDK (boto3, the ``aws`` extra) signs and sends the request; its calls are
blocking, so they run in a worker thread. STS credentials cannot be recalled before they
expire: the lease ends, the credentials run out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread

from ..config import STS_MIN_DURATION, AwsStsSource
from ..vault import SecretValue
from ._errors import NotRenewable, SourceUnavailable
from ._model import Issued, LeaseRequest

BrokerKey = Callable[[], Awaitable[tuple[SecretValue, SecretValue]]]
"""Resolves the broker's own AWS key id and secret key when a session is needed."""

_SESSION_NAME = re.compile(r"[^\w+=,.@-]")


def session_policy(template: Any, target: str | None) -> Any:
    """``template`` with ``{target}`` and ``{target_id}`` replaced in every string."""
    whole = target or ""
    ident = whole.split(":", 1)[1] if ":" in whole else whole
    if isinstance(template, dict):
        return {k: session_policy(v, target) for k, v in template.items()}
    if isinstance(template, list):
        return [session_policy(v, target) for v in template]
    if isinstance(template, str):
        return template.replace("{target_id}", ident).replace("{target}", whole)
    return template


class AwsSts:
    """``AssumeRole`` per lease, narrowed by a session policy to the call's target."""

    kind = "aws_sts"
    long_lived = False
    revocable = False

    def __init__(self, name: str, config: AwsStsSource, *, broker_key: BrokerKey) -> None:
        self.name = name
        self.config = config
        self._broker_key = broker_key

    async def issue(self, request: LeaseRequest, *, now: float) -> Issued:
        """Temporary credentials for the call's target.

        Raises:
            SourceUnavailable: STS cannot be reached, or refused (its error code is named).
        """
        wanted = request.ttl
        duration = min(max(wanted, STS_MIN_DURATION), self.config.max_ttl)
        note = None
        if duration > wanted:
            note = f"duration raised to {duration:g} s (the STS minimum), from {wanted:g} s"
        elif duration < wanted:
            note = f"duration capped to {duration:g} s (the source's max_ttl), from {wanted:g} s"
        policy = json.dumps(
            session_policy(self.config.policy, request.target), separators=(",", ":")
        )
        session_name = _SESSION_NAME.sub("-", f"qm-{request.run_id}")[:64]
        key_id, secret = await self._broker_key()
        answer = await anyio.to_thread.run_sync(
            self._assume, key_id.reveal(), secret.reveal(), policy, int(duration), session_name
        )
        values = answer["Credentials"]
        expires = values["Expiration"].timestamp()
        return Issued(
            values={
                "access_key_id": SecretValue(values["AccessKeyId"]),
                "secret_access_key": SecretValue(values["SecretAccessKey"]),
                "session_token": SecretValue(values["SessionToken"]),
            },
            expires_at=expires,
            scope=f"{self.config.role_arn} as {session_name}, session policy {policy}",
            ref=answer["AssumedRoleUser"]["Arn"],
            note=note,
        )

    def _assume(
        self, key_id: str, secret: str, policy: str, duration: int, session_name: str
    ) -> Any:
        # Imported here: boto3 is the optional 'aws' extra, needed only by this source.
        import boto3  # type: ignore[import-untyped]
        import botocore.exceptions  # type: ignore[import-untyped]

        client = boto3.client(
            "sts",
            region_name=self.config.region,
            endpoint_url=self.config.endpoint_url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        try:
            return client.assume_role(
                RoleArn=self.config.role_arn,
                RoleSessionName=session_name,
                Policy=policy,
                DurationSeconds=duration,
            )
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            said = f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
            raise SourceUnavailable(self.name, f"STS refused ({said})") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise SourceUnavailable(self.name, f"cannot reach STS ({exc})") from None

    async def revoke(self, ref: str) -> None:
        """Nothing to do: STS credentials run out at their expiry."""

    async def renew(self, ref: str, expires_at: float) -> float:
        """STS sessions are not extended.

        Raises:
            NotRenewable: always.
        """
        raise NotRenewable(self.name, self.kind)
