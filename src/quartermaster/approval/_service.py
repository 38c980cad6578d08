"""``ApprovalService``: the approval state machine driven against a store.

Every state change is a compare-and-set on the store, and a vote is taken together with
the decision it brings, so several processes (replicas, the CLI of an approver) can act on
the same request and exactly one change wins. A waiter
in this process is woken at once by an in-process event; changes made by other processes
are seen by polling the store with a bounded exponential backoff.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping, Set

import anyio

from quartermaster._clock import Clock
from quartermaster.store import ApprovalRecord, ApprovalRepo, Vote, VoteStatus

from ._errors import (
    ApprovalClosed,
    ApprovalDenied,
    ApprovalExpired,
    ApprovalMismatch,
    ApprovalNotFound,
    ApprovalRequired,
    ApprovalTampered,
    DuplicateVote,
    QuorumUnreachable,
)
from ._machine import (
    FINAL_STATES,
    CallBinding,
    Event,
    check_vote,
    client_may_confirm,
    may_approve,
    mismatch,
    next_state,
    outcome,
)
from ._prompt import summarize
from ._seal import ApprovalSeal

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def new_approval_id() -> str:
    """A fresh, unguessable approval id (``apr_`` and 128 random bits)."""
    return "apr_" + secrets.token_urlsafe(16)


class ApprovalService:
    """Requests, votes, waiting, spending and expiry of approvals.

    ``groups`` maps approver group names to their members (``PolicyEngine.groups``).
    ``poll_interval`` is the first delay between store polls while waiting; it doubles up
    to ``max_poll_interval``. ``client_step_up`` lets the caller's own MCP client confirm a
    plain step-up (``approval: {step_up: {via: client}}``); see ``client_may_confirm``.
    With ``seal``, an approval is spent only if the sealed rows of the audit ledger back it
    (see ``ApprovalSeal``); the rows are written by ``request_approval`` and ``cast_vote``.
    """

    def __init__(
        self,
        repo: ApprovalRepo,
        clock: Clock,
        *,
        groups: Mapping[str, Collection[str]],
        poll_interval: float = 0.05,
        max_poll_interval: float = 1.0,
        new_id: Callable[[], str] = new_approval_id,
        client_step_up: bool = False,
        seal: ApprovalSeal | None = None,
    ) -> None:
        if not 0 < poll_interval <= max_poll_interval:
            raise ValueError("need 0 < poll_interval <= max_poll_interval")
        self._repo = repo
        self._clock = clock
        self._groups = {name: frozenset(members) for name, members in groups.items()}
        self._poll = poll_interval
        self._max_poll = max_poll_interval
        self._new_id = new_id
        self._client_step_up = client_step_up
        self._seal = seal
        self._events: dict[str, anyio.Event] = {}
        self._waiters: dict[str, int] = {}

    def reconfigure(self, *, groups: Mapping[str, Collection[str]], client_step_up: bool) -> None:
        """Take the approver groups and the step-up setting of a reloaded configuration;
        pending requests are judged against them from now on."""
        self._groups = {name: frozenset(members) for name, members in groups.items()}
        self._client_step_up = client_step_up

    def _members(self, record: ApprovalRecord) -> Set[str] | None:
        # An unknown group (the configuration changed since the request) has no members,
        # so nobody can approve: fail closed.
        if record.group is None:
            return None
        return self._groups.get(record.group, frozenset())

    @property
    def seal(self) -> ApprovalSeal | None:
        """What seals this service's requests and votes for the ledger, if anything."""
        return self._seal

    async def check_evidence(self, record: ApprovalRecord) -> None:
        """Raise ``ApprovalTampered`` unless the sealed ledger rows back ``record`` (a no-op
        without a seal)."""
        if self._seal is not None:
            await self._seal.check(
                record, members=self._members(record), client_step_up=self._client_step_up
            )

    async def unbacked(self, limit: int = 10_000) -> list[ApprovalTampered]:
        """Every approved or spent request the sealed ledger rows do not back (for
        ``quartermaster audit verify``); empty without a seal."""
        found: list[ApprovalTampered] = []
        for state in ("approved", "consumed"):
            for record in await self._repo.list(state=state, limit=limit):
                try:
                    await self.check_evidence(record)
                except ApprovalTampered as exc:
                    found.append(exc)
        return found

    def client_may_confirm(self, record: ApprovalRecord) -> bool:
        """Whether the caller's own MCP client may approve ``record`` (a form elicitation)."""
        return client_may_confirm(record, client_step_up=self._client_step_up)

    async def request(
        self,
        *,
        run_id: str,
        agent: str,
        tenant: str,
        requester: str | None,
        tool: str,
        target: str | None,
        args_sha256: str,
        risk: str,
        required: int,
        group: str | None,
        ttl: float,
        summary: str | None = None,
        arguments: str | None = None,
    ) -> ApprovalRecord:
        """Create a pending approval request for one exact call and return it.

        ``required`` and ``group`` come from the decision's ``ApprovalRequirement``;
        ``ttl`` (seconds) is how long approvers have (``PolicyConfig.approval_timeout``);
        ``arguments`` is what approvers are shown of the call (``shown_arguments``).

        Raises:
            ValueError: ``required`` < 1, ``ttl`` <= 0, or ``args_sha256`` is not 64 hex digits.
            QuorumUnreachable: the group has fewer eligible approvers than ``required``.
            StoreError: the request could not be stored.
        """
        if required < 1:
            raise ValueError("an approval request needs at least one approver")
        if ttl <= 0:
            raise ValueError("an approval request needs a positive ttl")
        if not _SHA256_HEX.match(args_sha256):
            raise ValueError("args_sha256 must be 64 lower-case hex digits")
        now = self._clock.now()
        record = ApprovalRecord(
            approval_id=self._new_id(),
            run_id=run_id,
            requester=requester,
            agent=agent,
            tenant=tenant,
            tool=tool,
            target=target,
            args_sha256=args_sha256,
            risk=risk,
            required=required,
            group=group,
            state="pending",
            created_at=now,
            expires_at=now + ttl,
            summary=summary
            or summarize(agent=agent, tool=tool, target=target, requester=requester),
            arguments=arguments,
        )
        members = self._members(record)
        if members is not None:
            eligible = sum(
                1
                for member in members
                if may_approve(record, member, members, via="cli", client_step_up=False)
            )
            if eligible < required:
                raise QuorumUnreachable(record.approval_id, group, required, eligible)
        await self._repo.create(record)
        return record

    async def get(self, approval_id: str) -> ApprovalRecord:
        """The approval ``approval_id`` as stored now.

        Raises:
            ApprovalNotFound: there is none.
        """
        record = await self._repo.get(approval_id)
        if record is None:
            raise ApprovalNotFound(approval_id)
        return record

    async def vote(
        self, approval_id: str, approver: str, decision: str, via: str
    ) -> ApprovalRecord:
        """Record ``approver``'s ``decision`` ("approve" or "deny") and settle the request.

        Returns the request after the vote (``approved`` once the quorum is reached,
        ``denied`` after any deny).

        Raises:
            ApprovalNotFound, ApprovalClosed, ApprovalExpired, SelfApprovalRefused,
            NotInApproverGroup, ClientApprovalRefused, DuplicateVote: see ``check_vote``.
        """
        record, _ = await self.vote_and_settle(approval_id, approver, decision, via)
        return record

    async def vote_and_settle(
        self,
        approval_id: str,
        approver: str,
        decision: str,
        via: str,
        *,
        before_store: Callable[[Vote], Awaitable[object]] | None = None,
    ) -> tuple[ApprovalRecord, bool]:
        """Like :meth:`vote`; also whether this vote decided the request (so that exactly
        one caller records the decision, however many vote at once).

        The vote and the decision it brings are one store step (``ApprovalRepo.add_vote``),
        atomic across replicas: of an approve and a deny cast at the same moment, whichever
        the store takes first decides, and the other is refused with ``ApprovalClosed``.
        So a deny cast before the decision always wins, and a vote that did not count is
        never reported as if it had.

        ``before_store`` runs once the vote is found admissible and before it is stored
        (``cast_vote`` makes an approval durable in the ledger there, so a waiting call
        woken by the vote always finds the vote's sealed row).

        Raises:
            ApprovalClosed: the request was decided (by another vote, or it expired) before
                this vote was taken.
            ApprovalNotFound, ApprovalExpired, SelfApprovalRefused, NotInApproverGroup,
                ClientApprovalRefused, DuplicateVote: see ``check_vote``.
        """
        record = await self.get(approval_id)
        if await self._settle(record) != record.state:
            record = await self.get(approval_id)
        members = self._members(record)
        vote = check_vote(
            record,
            approver,
            decision,
            via,
            members=members,
            now=self._clock.now(),
            client_step_up=self._client_step_up,
        )
        if before_store is not None:
            await before_store(vote)

        def settle(voted: ApprovalRecord) -> str | None:
            event = outcome(
                voted, members=members, now=vote.at, client_step_up=self._client_step_up
            )
            return None if event is None else next_state(voted.state, event)

        result = await self._repo.add_vote(approval_id, vote, settle=settle)
        self._notify(approval_id)
        if result.status is VoteStatus.DUPLICATE:
            raise DuplicateVote(approval_id, approver)
        if result.status is VoteStatus.CLOSED:
            if result.record.state == "expired":
                raise ApprovalExpired(approval_id)
            raise ApprovalClosed(approval_id, result.record.state)
        return result.record, result.decided

    # The timeout is part of the answer ("still pending"), not a cancellation, so it is a
    # parameter rather than the caller's cancel scope.
    async def wait(self, approval_id: str, timeout: float) -> str:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for the request to leave ``pending``; its state.

        Returns ``approved``, ``denied``, ``expired`` or ``consumed``, or ``pending`` if
        ``timeout`` ran out first. A request whose own deadline passes becomes ``expired``.

        Raises:
            ApprovalNotFound: there is no such request.
        """
        delay = self._poll
        self._waiters[approval_id] = self._waiters.get(approval_id, 0) + 1
        try:
            with anyio.move_on_after(timeout):
                while True:
                    # Take the event before reading, so a change landing in between still
                    # wakes us.
                    event = self._events.setdefault(approval_id, anyio.Event())
                    record = await self.get(approval_id)
                    state = await self._settle(record)
                    if state != "pending":
                        return state
                    left = max(record.expires_at - self._clock.now(), 0.0)
                    with anyio.move_on_after(min(delay, left)):
                        await event.wait()
                    delay = min(delay * 2, self._max_poll)
            return await self._settle(await self.get(approval_id))
        finally:
            self._waiters[approval_id] -= 1
            if not self._waiters[approval_id]:
                del self._waiters[approval_id]
                self._events.pop(approval_id, None)

    async def consume(self, approval_id: str, call: CallBinding) -> bool:
        """Spend an approved request on ``call``; ``True`` for the one winner.

        ``False`` means it was already spent (a replay, or another caller won the race).

        Raises:
            ApprovalNotFound: there is no such request.
            ApprovalMismatch: it was given for another caller, run, tool or arguments.
            ApprovalRequired: it is still pending.
            ApprovalDenied: an approver denied it.
            ApprovalExpired: it expired before being spent.
            ApprovalTampered: the store says approved, the sealed ledger rows do not.
        """
        record = await self.get(approval_id)
        wrong = mismatch(record, call)
        if wrong is not None:
            raise ApprovalMismatch(approval_id, wrong)
        state = await self._settle(record)
        if state == "consumed":
            return False
        if state == "pending":
            raise ApprovalRequired(approval_id)
        if state == "denied":
            denier = next((v.approver for v in record.votes if v.decision == "deny"), None)
            raise ApprovalDenied(approval_id, denier)
        if state == "expired":
            raise ApprovalExpired(approval_id)
        await self.check_evidence(record)
        won = await self._advance(approval_id, "approved", "spent")
        if not won and (await self.get(approval_id)).state == "expired":
            raise ApprovalExpired(approval_id)
        return won

    async def expire_due(self, limit: int = 1000) -> int:
        """Expire every pending or approved request past its deadline; how many were expired.

        Looks at up to ``limit`` requests per state (oldest first); call it periodically.
        """
        now = self._clock.now()
        expired = 0
        for state in ("pending", "approved"):
            for record in await self._repo.list(state=state, limit=limit):
                if now >= record.expires_at and await self._advance(
                    record.approval_id, state, "timed_out"
                ):
                    expired += 1
        return expired

    def _due(self, record: ApprovalRecord) -> Event | None:
        """What the votes and the clock say should happen to ``record`` now."""
        if record.state in FINAL_STATES:
            return None
        return outcome(
            record,
            members=self._members(record),
            now=self._clock.now(),
            client_step_up=self._client_step_up,
        )

    async def _settle(self, record: ApprovalRecord) -> str:
        """Apply what the votes and the clock say should happen; the resulting state."""
        event = self._due(record)
        if event is None:
            return record.state
        await self._advance(record.approval_id, record.state, event)
        # Whether this call or a concurrent one made the change, the store now knows.
        return (await self.get(record.approval_id)).state

    async def _advance(self, approval_id: str, state: str, event: str) -> bool:
        new = next_state(state, event)
        changed = await self._repo.transition(approval_id, state, new, self._clock.now())
        self._notify(approval_id)
        return changed

    def _notify(self, approval_id: str) -> None:
        event = self._events.pop(approval_id, None)
        if event is not None:
            event.set()
