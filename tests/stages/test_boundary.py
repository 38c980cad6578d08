"""The boundary stage: a refusal becomes a tool error the model reads, and a refusal built from
downstream data (a server that is down, quoting what it said) passes the redactor first."""

from __future__ import annotations

import mcp.types as types

from quartermaster._clock import ManualClock
from quartermaster._errors import DownstreamUnavailable
from quartermaster.pipeline import CallContext, CallResult, ToolCall, ToolRoute
from quartermaster.redaction import Redactor
from quartermaster.stages import ErrorBoundary, SecretsInPlay

SECRET = "qk7Hq2Lr9Zx4Wm1Np8Vt3Ks6"


def context() -> CallContext:
    tool = types.Tool(name="desk__echo", input_schema={"type": "object"})
    route = ToolRoute(
        exposed_name="desk__echo", backend="desk", kind="mcp", original_name="echo", tool=tool
    )
    return CallContext(call=ToolCall(name="desk__echo", arguments={}, meta={}), route=route)


async def test_a_refusal_quoting_a_downstream_is_redacted() -> None:
    redactor = Redactor()
    secrets = SecretsInPlay(None, redactor, clock=ManualClock(), own=lambda: [SECRET])

    async def down(_: CallContext) -> CallResult:
        raise DownstreamUnavailable("desk", f"is down (init failed: token={SECRET})")

    result = await ErrorBoundary(redactor, secrets)(context(), down)
    assert isinstance(result, types.CallToolResult)
    assert result.is_error is True
    (item,) = result.content
    assert isinstance(item, types.TextContent)
    assert item.text.startswith("desk__echo: downstream 'desk': is down (init failed: [REDACTED:")
    assert SECRET not in item.text
