"""Step 4: a human approves writes the policy says need it, and every dangerous write.

How the human is asked depends on the client:

- a handshake-era client that declared form elicitation gets a pushed ``elicitation/create``
  while the call waits;
- a 2026-07-28 client that declared it gets an ``InputRequiredResult``; its answer comes back
  with the retried call, together with the sealed ``request_state`` naming the approval;
- any client, and every quorum beyond the first vote, can be approved out of band
  (``quartermaster approvals approve ID``): the call waits for a while, and otherwise tells
  the agent the approval id so that a retry with the same arguments uses it once granted;
- where a person must approve (a dangerous tool's floor, an approver group, a quorum, a
  step-up the client may not confirm) and ``serve.public_url`` names the console, a client
  that declared URL-mode elicitation is asked to send its human to the request in the console
  (``/console#ID``), where an approver signed in as a person votes. The client's answer only
  says whether the human went there: it is never a vote.

An approval covers one exact call: the agent, tenant and human, the run, the tool and the
digest of the arguments. It is spent by the one execution that uses it (the store's state
change from approved to spent has one winner).

The run binds only when the client names its runs (``_meta["quartermaster/run_id"]``). A
client that names none gets a run per connection (handshake era) or per call (2026-07-28),
and the retry that should use an approval is usually in another one: the 2026-07-28 retry
that carries the answer, or a handshake-era client that reconnected (a desktop client
restarting its stdio server, an HTTP session that ended) after being told the approval id.
Its approvals are then bound to the authenticated caller (agent, tenant and human, from the
transport, never from the agent's words), the tool and the exact argument digest: the call
the human approved, once, whichever run makes it. A call that names a run uses only the
approvals of that run.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import mcp.types as types
from pydantic import BaseModel

from .._errors import QuartermasterError
from ..approval import (
    ApprovalClosed,
    ApprovalDenied,
    ApprovalExpired,
    ApprovalMismatch,
    ApprovalPrompt,
    ApprovalRequired,
    ApprovalService,
    CallBinding,
    ClientApprovalRefused,
    cast_vote,
    mismatch,
    read_response,
    render_prompt,
    request_approval,
    shown_arguments,
)
from ..audit import Ledger
from ..config import ApprovalConfig
from ..pipeline import CallContext, CallResult, Next
from ..policy import Decision, grant_ttl
from ..redaction import Redactor
from ..store import ApprovalRecord, ApprovalRepo
from ._known import SecretsInPlay

logger = logging.getLogger("quartermaster.approval")

INPUT_KEY = "approval"
"""The key of the approval question in an ``InputRequiredResult``."""
STATE_PREFIX = "qm-approval:"
PAGE_STATE_PREFIX = "qm-approval-page:"
"""The request state of a retry that follows a URL elicitation (the console): its answer is
no vote."""


class Approve:
    """Obtains the approval a decision requires, or stops the call."""

    name = "approve"

    def __init__(
        self,
        service: ApprovalService,
        repo: ApprovalRepo,
        ledger: Ledger,
        redactor: Redactor,
        secrets: SecretsInPlay,
        *,
        config: ApprovalConfig,
        approval_ttl: float,
        default_grant_ttl: float,
        config_path: str | None = None,
        console_url: str | None = None,
    ) -> None:
        """``console_url`` (under ``serve.public_url``) is where approvers find the console."""
        self._service = service
        self._repo = repo
        self._ledger = ledger
        self._redactor = redactor
        self._secrets = secrets
        self._config = config
        self._ttl = approval_ttl
        self._default_grant_ttl = default_grant_ttl
        self._config_path = config_path
        self._console_url = console_url

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Continue only with a granted, spent approval (or ask the client for one)."""
        decision = ctx.decision
        if decision is None or decision.effect != "allow_after_approval":
            return await call_next(ctx)
        found = await self._obtain(ctx, decision)
        if isinstance(found, types.InputRequiredResult):
            return found
        ctx.approval = found
        return await call_next(ctx)

    async def _obtain(
        self, ctx: CallContext, decision: Decision
    ) -> ApprovalRecord | types.InputRequiredResult:
        if ctx.call.request_state is not None:
            return await self._answered(ctx)
        earlier = await self._approved_earlier(ctx)
        if earlier is not None:
            ctx.approval_via = "out_of_band"
            return await self._spend(ctx, earlier)
        record = await self._request(ctx, decision)
        # Only a plain step-up the admin lets the client confirm is asked at the client: with
        # an approver group the requester never counts, and a dangerous tool's floor needs an
        # approver authenticated as a person, so asking would only end in a refusal.
        human = ctx.identity.on_behalf_of if ctx.identity else None
        if human is not None and self._service.client_may_confirm(record) and self._can_elicit(ctx):
            prompt = render_prompt(
                record,
                redacted_arguments=await self._redacted_arguments(ctx),
                grant_ttl=self._grant_ttl(ctx, decision),
            )
            if ctx.human.way == "reply":
                return types.InputRequiredResult(
                    input_requests={INPUT_KEY: types.ElicitRequest(params=_form(prompt))},
                    request_state=STATE_PREFIX + record.approval_id,
                )
            # A human who does not answer in time casts no vote, like one who dismisses the
            # form: approvers may still decide out of band.
            answer: types.ElicitResult | None = None
            ask = ctx.human.ask
            if ask is not None:
                with anyio.move_on_after(self._config.elicitation_timeout):
                    answer = await ask(prompt.message, prompt.requested_schema)
            if answer is not None:
                await self._vote(ctx, record, answer)
        elif self._console_url is not None and ctx.human.url:
            return await self._via_page(ctx, record, self._console_url)
        return await self._outcome(ctx, record)

    async def _via_page(
        self, ctx: CallContext, record: ApprovalRecord, console_url: str
    ) -> ApprovalRecord | types.InputRequiredResult:
        """Point the human at the request in the console (URL-mode elicitation), then wait for
        the approvers as out of band: whatever the client answers, only a person voting in
        the console (or with the CLI or the HTTP API) approves."""
        page = f"{console_url}#{record.approval_id}"
        who = f"{record.required} of {record.group}" if record.group else "an approver"
        message = (
            f"{ctx.route.exposed_name} needs approval by {who}, authenticated as a person; "
            f"this client cannot give it. An approver decides in Quartermaster's console at "
            f"{page} (request {record.approval_id})."
        )
        if ctx.human.way == "reply":
            params = types.ElicitRequestURLParams(
                message=message, url=page, elicitation_id=record.approval_id
            )
            return types.InputRequiredResult(
                input_requests={INPUT_KEY: types.ElicitRequest(params=params)},
                request_state=PAGE_STATE_PREFIX + record.approval_id,
            )
        open_url = ctx.human.open_url
        if open_url is None:
            return await self._outcome(ctx, record)

        async def send() -> None:
            # The answer (the human went to the console, or not) decides nothing, and a client
            # that fails to show it leaves the approvers' other ways open.
            with anyio.move_on_after(self._config.elicitation_timeout):
                try:
                    await open_url(message, page, record.approval_id)
                except Exception as exc:
                    logger.info("the client did not take the console's address: %s", exc)

        refused: QuartermasterError | None = None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(send)
            try:
                approved = await self._outcome(ctx, record)
            except QuartermasterError as exc:
                refused = exc  # raised outside the task group, as itself
            finally:
                tasks.cancel_scope.cancel()
        if refused is not None:
            raise refused
        return approved

    def _grant_ttl(self, ctx: CallContext, decision: Decision) -> float:
        # The same lifetime the grant stage mints: the shorter of the rule's and the tool's.
        lifetime = grant_ttl(decision.ttl, ctx.route.ttl)
        return float(lifetime) if lifetime is not None else self._default_grant_ttl

    async def _request(self, ctx: CallContext, decision: Decision) -> ApprovalRecord:
        identity = ctx.identity
        if identity is None or ctx.args_sha256 is None or ctx.risk is None:
            raise RuntimeError("approve needs identify, classify and screen before it")
        return await request_approval(
            self._service,
            self._ledger,
            run_id=identity.run_id,
            agent=identity.agent,
            tenant=identity.tenant,
            requester=identity.on_behalf_of,
            tool=ctx.route.exposed_name,
            target=ctx.target,
            args_sha256=ctx.args_sha256,
            risk=ctx.risk,
            required=decision.approval.required,
            group=decision.approval.group,
            ttl=self._ttl,
            arguments=shown_arguments(await self._redacted_arguments(ctx)),
        )

    async def _answered(self, ctx: CallContext) -> ApprovalRecord:
        state = ctx.call.request_state or ""
        if state.startswith(PAGE_STATE_PREFIX):
            # The retry after the console's address: the client's answer is not a vote.
            record = await self._service.get(state.removeprefix(PAGE_STATE_PREFIX))
            self._check_binding(ctx, record)
            return await self._outcome(ctx, record)
        if not state.startswith(STATE_PREFIX):
            raise ApprovalMismatch("unknown", "another request (the request state is not ours)")
        record = await self._service.get(state.removeprefix(STATE_PREFIX))
        self._check_binding(ctx, record)
        response = (ctx.call.input_responses or {}).get(INPUT_KEY)
        if response is not None:
            data = (
                response.model_dump(by_alias=True) if isinstance(response, BaseModel) else response
            )
            await self._vote(ctx, record, types.ElicitResult.model_validate(data))
        return await self._outcome(ctx, record)

    def _check_binding(self, ctx: CallContext, record: ApprovalRecord) -> None:
        wrong = mismatch(record, _binding(ctx))
        if wrong is not None:
            raise ApprovalMismatch(record.approval_id, wrong)

    async def _vote(
        self, ctx: CallContext, record: ApprovalRecord, answer: types.ElicitResult
    ) -> None:
        decision, reason = read_response(answer)
        human = ctx.identity.on_behalf_of if ctx.identity else None
        if decision is None or human is None:
            return  # dismissed: no vote; approvers may still decide out of band
        try:
            await cast_vote(
                self._service,
                self._ledger,
                record.approval_id,
                human,
                decision,
                via="elicitation",
                redact=self._redactor.redact,
                reason=reason,
            )
        except ClientApprovalRefused:
            # An answer nobody asked for (a 2026-07-28 client retrying with "accept" where a
            # person must approve): no vote; the call waits for approvers as if unanswered.
            return
        except ApprovalClosed:
            # An approver decided out of band (on any replica) while the human answered: the
            # answer did not count, and the decision taken stands (spent or refused below).
            return
        ctx.approval_via = "elicitation"

    async def _outcome(self, ctx: CallContext, record: ApprovalRecord) -> ApprovalRecord:
        state = await self._service.wait(record.approval_id, self._config.out_of_band_wait)
        current = await self._service.get(record.approval_id)
        if state == "approved":
            ctx.approval_via = ctx.approval_via or "out_of_band"
            return await self._spend(ctx, current)
        if state == "denied":
            deniers = [vote.approver for vote in current.votes if vote.decision == "deny"]
            raise ApprovalDenied(record.approval_id, deniers[0] if deniers else None)
        if state == "expired":
            raise ApprovalExpired(record.approval_id)
        missing = current.required - sum(1 for vote in current.votes if vote.decision == "approve")
        raise ApprovalRequired(
            record.approval_id,
            f" ({missing} more needed)",
            config_path=self._config_path,
            console_url=self._console_url,
        )

    async def _approved_earlier(self, ctx: CallContext) -> ApprovalRecord | None:
        if ctx.identity is None:
            return None
        binding = _binding(ctx)
        for record in await self._repo.list(state="approved"):
            if mismatch(record, binding) is None:
                return record
        return None

    async def _spend(self, ctx: CallContext, record: ApprovalRecord) -> ApprovalRecord:
        spent = await self._service.consume(record.approval_id, _binding(ctx))
        if not spent:
            raise ApprovalMismatch(record.approval_id, "a call that already used it")
        return await self._service.get(record.approval_id)

    def _can_elicit(self, ctx: CallContext) -> bool:
        # A form can be put to the human: now (ask), or in the answer (reply).
        if not ctx.human.form:
            return False
        return ctx.human.way == "reply" or (ctx.human.way == "ask" and ctx.human.ask is not None)

    async def _redacted_arguments(self, ctx: CallContext) -> dict[str, Any]:
        session = self._redactor.session(await self._secrets.for_redaction())
        arguments = ctx.arguments if ctx.arguments is not None else dict(ctx.call.arguments)
        redacted: dict[str, Any] = json.loads(
            session.text(json.dumps(arguments, ensure_ascii=False, sort_keys=True))
        )
        return redacted


def _run_is_bound(ctx: CallContext) -> bool:
    # Only a run the client named binds its approvals (see the module docstring): an unnamed
    # run lasts one connection or one call, which the retry that uses the approval may not
    # share. The caller, tool and argument digest bind either way.
    return ctx.call.run_id is not None


def _binding(ctx: CallContext) -> CallBinding:
    """The call an approval must cover; a run that cannot be bound is not compared."""
    identity = ctx.identity
    if identity is None or ctx.args_sha256 is None:
        raise RuntimeError("approve needs identify and screen before it")
    return CallBinding(
        agent=identity.agent,
        tenant=identity.tenant,
        requester=identity.on_behalf_of,
        run_id=identity.run_id if _run_is_bound(ctx) else None,
        tool=ctx.route.exposed_name,
        args_sha256=ctx.args_sha256,
    )


def _form(prompt: ApprovalPrompt) -> types.ElicitRequestFormParams:
    # The approval part words the question; the MCP shape of it belongs to this edge.
    return types.ElicitRequestFormParams(
        message=prompt.message, requested_schema=prompt.requested_schema
    )
