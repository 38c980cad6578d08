"""The console's pages, as HTML text: pure functions of what they show.

No script runs in these pages (the Content-Security-Policy allows none): every action is a
plain form posted to the same origin with the session's CSRF token. Every value shown is
escaped here, in one place (:func:`_e`); approval arguments and audit rows arrive already
redacted by the parts that stored them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from quartermaster.audit import AuditRow
from quartermaster.store import ApprovalRecord, GrantRecord, LeaseRecord, PinRecord

AUDIT_FILTERS = ("run_id", "agent", "human", "tool", "outcome")
"""The audit browser's text filters (``since``/``until`` are times, handled apart)."""

STYLESHEET = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header { background: #1b1f24; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1.2rem;
  align-items: center; }
header a { color: #fff; } header .who { margin-left: auto; }
header form { margin: 0; }
main { padding: 1rem 1.2rem; max-width: 72rem; }
.card { background: #fff; border: 1px solid #d0d5dc; border-radius: 6px; padding: .8rem 1rem;
  margin-bottom: 1rem; }
.card h2 { margin: 0 0 .4rem; font-size: 1.1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .4rem 0; }
dt { color: #57606a; } dd { margin: 0; overflow-wrap: anywhere; }
pre { background: #f0f2f5; padding: .5rem; overflow: auto; max-height: 20rem; }
.risk-dangerous { color: #b00020; font-weight: 600; } .risk-write { color: #8a5a00; }
.ok { color: #116329; } .bad { color: #b00020; font-weight: 600; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border-bottom: 1px solid #d0d5dc; padding: .3rem .5rem; text-align: left;
  vertical-align: top; font-size: 13px; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem; margin-bottom: 1rem; }
button { padding: .3rem .9rem; } .approve { background: #116329; color: #fff; border: 0; }
.deny { background: #b00020; color: #fff; border: 0; }
.notice { background: #fff8c5; border: 1px solid #d4a72c; padding: .5rem 1rem; }
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    """A time as the console shows it: UTC, to the second."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def document(title: str, body: str, *, who: str | None = None, csrf: str | None = None) -> str:
    """A whole page: the header (with the signed-in person and sign-out) around ``body``."""
    nav = ""
    if who is not None and csrf is not None:
        nav = (
            '<a href="/console">Approvals</a><a href="/console/audit">Audit</a>'
            '<a href="/console/state">Grants and leases</a>'
            f'<span class="who">Signed in as <strong>{_e(who)}</strong></span>'
            '<form method="post" action="/console/signout">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}"><button>Sign out</button></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · Quartermaster</title>"
        '<link rel="stylesheet" href="/console/console.css"></head>'
        f"<body><header><strong>Quartermaster</strong>{nav}</header>"
        f"<main><h1>{_e(title)}</h1>{body}</main></body></html>"
    )


def signin_confirm(link: str) -> str:
    """The page a sign-in link opens: one button, so that a link preview (which only GETs)
    never spends the link."""
    body = (
        "<p>This one-time link signs you in to approve and review actions.</p>"
        '<form method="post" action="/console/signin">'
        f'<input type="hidden" name="link" value="{_e(link)}">'
        "<button>Sign in</button></form>"
    )
    return document("Sign in", body)


def signed_out(message: str, *, provider: bool = False) -> str:
    """The page for someone not signed in: why, and how to get in (``provider``: an
    identity provider's sign-in is offered too)."""
    login = (
        '<p><a class="button" href="/console/login">Sign in with your identity provider</a></p>'
        if provider
        else ""
    )
    body = (
        f'<p class="notice">{_e(message)}</p>{login}'
        "<p>Or ask an admin for a one-time sign-in link: <code>quartermaster approvers link "
        "NAME --tenant TENANT</code>.</p>"
    )
    return document("Sign in", body)


def continue_to_console() -> str:
    """What the identity provider's callback answers: a same-site step to the console, so
    that the browser sends the new ``SameSite=Strict`` session cookie with it (a redirect
    would still count as the provider's cross-site navigation)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0;url=/console"><title>Signed in</title>'
        '<link rel="stylesheet" href="/console/console.css"></head><body><main>'
        '<p>Signed in. <a href="/console">Continue to the console</a>.</p></main></body></html>'
    )


def inbox(
    records: Sequence[ApprovalRecord], *, who: str, csrf: str, notice: str | None = None
) -> str:
    """The pending approvals of one tenant, each with exactly what is asked and two forms."""
    cards = [_approval_card(r, csrf) for r in records]
    shown = f'<p class="notice" role="status">{_e(notice)}</p>' if notice else ""
    if not cards:
        cards = ["<p>Nothing is waiting for approval.</p>"]
    return document("Approvals", shown + "".join(cards), who=who, csrf=csrf)


def _approval_card(record: ApprovalRecord, csrf: str) -> str:
    votes = ", ".join(f"{v.approver} {v.decision}d via {v.via}" for v in record.votes) or "none"
    approving = sum(1 for v in record.votes if v.decision == "approve")
    arguments = (
        f"<pre>{_e(record.arguments)}</pre>" if record.arguments is not None else "<p>none</p>"
    )
    facts = {
        "Tool": record.tool,
        "Target": record.target or "(none)",
        "Agent": record.agent,
        "On behalf of": record.requester or "nobody (autonomous)",
        "Tenant": record.tenant,
        "Run": record.run_id,
        "Approvers needed": f"{record.required}"
        + (f" from group {record.group}" if record.group else ""),
        "Votes so far": f"{approving} of {record.required} ({votes})",
        "Asked": when(record.created_at),
        "Expires": when(record.expires_at),
        "Arguments digest": f"sha256 {record.args_sha256}",
    }
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items())
    action = f"/console/approvals/{_e(record.approval_id)}"
    return (
        # The id is the anchor a URL elicitation points to (/console#apr_...).
        f'<section class="card" id="{_e(record.approval_id)}" '
        f'data-approval="{_e(record.approval_id)}">'
        f"<h2>{_e(record.summary)}</h2>"
        f'<p>Risk: <span class="risk-{_e(record.risk)}">{_e(record.risk)}</span></p>'
        f"<dl>{rows}</dl><h3>Arguments (secrets redacted)</h3>{arguments}"
        f'<form method="post" action="{action}/vote">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<label>Reason <input name="reason" maxlength="500"></label> '
        '<button class="approve" name="decision" value="approve">Approve</button> '
        '<button class="deny" name="decision" value="deny">Deny</button></form></section>'
    )


def audit(
    rows: Sequence[AuditRow],
    *,
    filters: Mapping[str, str],
    chain: str | None,
    who: str,
    csrf: str,
) -> str:
    """The audit browser: filters, the chain's state when asked, and the matching rows."""
    inputs = "".join(
        f'<label>{_e(name)} <input name="{_e(name)}" value="{_e(filters.get(name, ""))}"></label>'
        for name in (*AUDIT_FILTERS, "since", "until")
    )
    query = urlencode({k: v for k, v in filters.items() if v})
    form = (
        f'<form class="filters" method="get" action="/console/audit">{inputs}'
        "<button>Filter</button></form>"
        f'<p><a href="/console/audit?{_e(query)}&amp;verify=1">Verify the chain</a> · '
        f'<a href="/console/audit/export?{_e(query)}">Export these rows (JSON lines)</a></p>'
    )
    status = f'<p class="notice" role="status">{_e(chain)}</p>' if chain else ""
    table = _table(
        ("seq", "time", "kind", "run", "agent", "on behalf of", "tool", "outcome", "detail"),
        (_audit_cells(r) for r in rows),
        empty="No rows.",
    )
    return document("Audit", form + status + table, who=who, csrf=csrf)


def _audit_cells(row: AuditRow) -> tuple[object, ...]:
    b = row.body
    outcome = b.get("outcome") or b.get("decision") or ""
    rest = {
        k: v
        for k, v in b.items()
        if k not in {"run_id", "agent", "human", "tool", "outcome", "tenant"}
    }
    return (
        row.seq,
        when(row.ts),
        row.kind,
        b.get("run_id"),
        b.get("agent"),
        b.get("human"),
        b.get("tool"),
        outcome,
        json.dumps(rest, sort_keys=True)[:400],
    )


def state(
    grants: Sequence[GrantRecord],
    leases: Sequence[LeaseRecord],
    held: Sequence[PinRecord],
    *,
    who: str,
    csrf: str,
) -> str:
    """Active grants and leases of one tenant, and the downstream definitions held back."""
    body = (
        "<h2>Active grants</h2>"
        + _table(
            ("id", "run", "agent", "tool", "target", "expires", "uses left"),
            (
                (g.jti[:12], g.run_id, g.agent, g.tool, g.target, when(g.expires_at), g.uses_left)
                for g in grants
            ),
        )
        + "<h2>Active credential leases</h2>"
        + _table(
            ("lease", "source", "kind", "run", "agent", "tool", "scope", "expires"),
            (
                (
                    r.lease_id[:12],
                    r.source,
                    r.kind,
                    r.run_id,
                    r.agent,
                    r.tool,
                    r.scope,
                    when(r.expires_at),
                )
                for r in leases
            ),
        )
        + "<h2>Quarantined definitions</h2><p>Changed or new downstream definitions held back "
        "until an admin accepts them (<code>quartermaster tools diff|accept</code>); their "
        "calls are refused meanwhile.</p>"
        + _table(
            ("server", "kind", "name", "digest", "seen"),
            ((p.server, p.kind, p.name, p.digest[:16], when(p.seen_at)) for p in held),
        )
    )
    return document("Grants and leases", body, who=who, csrf=csrf)


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "None."
) -> str:
    """A table of escaped cells; one row saying ``empty`` when there are none."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}">{_e(empty)}</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
