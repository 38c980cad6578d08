"""Approval: asking people before a call runs, dual control, expiry, and spending once.

The lifecycle is a pure state machine (``TRANSITIONS``); ``ApprovalService`` drives it
against a store with compare-and-set writes; ``mismatch`` is the one rule for "this approval
covers this call"; ``cast_vote`` is the one way a vote is cast and recorded in the ledger;
``render_prompt`` builds what an approver sees.
"""

from ._errors import ApprovalClosed as ApprovalClosed
from ._errors import ApprovalDenied as ApprovalDenied
from ._errors import ApprovalError as ApprovalError
from ._errors import ApprovalExpired as ApprovalExpired
from ._errors import ApprovalMismatch as ApprovalMismatch
from ._errors import ApprovalNotFound as ApprovalNotFound
from ._errors import ApprovalRequired as ApprovalRequired
from ._errors import ApprovalTampered as ApprovalTampered
from ._errors import ClientApprovalRefused as ClientApprovalRefused
from ._errors import DuplicateVote as DuplicateVote
from ._errors import IllegalTransition as IllegalTransition
from ._errors import NotInApproverGroup as NotInApproverGroup
from ._errors import QuorumUnreachable as QuorumUnreachable
from ._errors import SelfApprovalRefused as SelfApprovalRefused
from ._errors import VoteRefused as VoteRefused
from ._machine import FINAL_STATES as FINAL_STATES
from ._machine import PERSON_VIAS as PERSON_VIAS
from ._machine import TRANSITIONS as TRANSITIONS
from ._machine import VIAS as VIAS
from ._machine import CallBinding as CallBinding
from ._machine import Event as Event
from ._machine import State as State
from ._machine import check_vote as check_vote
from ._machine import client_may_confirm as client_may_confirm
from ._machine import mismatch as mismatch
from ._machine import next_state as next_state
from ._machine import outcome as outcome
from ._prompt import REQUESTED_SCHEMA as REQUESTED_SCHEMA
from ._prompt import ApprovalPrompt as ApprovalPrompt
from ._prompt import read_response as read_response
from ._prompt import render_prompt as render_prompt
from ._prompt import shown_arguments as shown_arguments
from ._prompt import summarize as summarize
from ._prompt import visible as visible
from ._seal import ApprovalSeal as ApprovalSeal
from ._service import ApprovalService as ApprovalService
from ._service import new_approval_id as new_approval_id
from ._voting import MAX_REASON as MAX_REASON
from ._voting import approval_json as approval_json
from ._voting import cast_vote as cast_vote
from ._voting import request_approval as request_approval
