"""A small ticket desk served over MCP: the downstream the example configuration proxies.

It exists so that ``make run`` works on a machine with no accounts and no network, and so that
reads, writes and a dangerous write can be tried against something real. State lives in memory.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import BaseModel


class Ticket(BaseModel):
    """A support ticket."""

    id: int
    title: str
    status: str
    notes: list[str]


def build_demo_server() -> MCPServer:
    """A fresh ticket desk with three tickets."""
    desk = MCPServer("quartermaster-demo", instructions="A demo ticket desk.")
    tickets: dict[int, Ticket] = {
        4812: Ticket(id=4812, title="Printer on fire", status="open", notes=[]),
        4813: Ticket(id=4813, title="VPN drops every hour", status="open", notes=[]),
        4814: Ticket(id=4814, title="Refund request", status="pending", notes=[]),
    }

    def find(ticket_id: int) -> Ticket:
        if ticket_id not in tickets:
            raise ValueError(f"no ticket {ticket_id}")
        return tickets[ticket_id]

    @desk.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @desk.tool(annotations=ToolAnnotations(read_only_hint=True))
    def get_ticket(ticket_id: int) -> Ticket:
        """Read one ticket."""
        return find(ticket_id)

    @desk.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    def append_note(ticket_id: int, text: str) -> Ticket:
        """Append an internal note to a ticket."""
        ticket = find(ticket_id)
        ticket.notes.append(text)
        return ticket

    @desk.tool(annotations=ToolAnnotations(destructive_hint=True))
    def delete_ticket(ticket_id: int) -> str:
        """Delete a ticket for good."""
        find(ticket_id)
        del tickets[ticket_id]
        return f"ticket {ticket_id} deleted"

    @desk.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def count_slowly(to: int, ctx: Context) -> str:
        """Count up to a number, reporting progress at each step."""
        for step in range(1, to + 1):
            await ctx.report_progress(step, to, f"counted {step}")
        return f"counted to {to}"

    @desk.resource("demo://readme", mime_type="text/plain")
    def readme() -> str:
        """What this server is."""
        return "The Quartermaster demo ticket desk."

    @desk.resource("demo://tickets/{ticket_id}", mime_type="application/json")
    def ticket_resource(ticket_id: str) -> str:
        """One ticket as JSON."""
        return find(int(ticket_id)).model_dump_json()

    @desk.prompt()
    def triage(ticket_id: str) -> str:
        """Ask the model to triage a ticket."""
        ticket: dict[str, Any] = find(int(ticket_id)).model_dump()
        return f"Triage ticket {ticket['id']}: {ticket['title']} (status {ticket['status']})."

    return desk
