"""A shell-like MCP server that keeps a working directory between calls (session state).

Run it on stdio: ``python shell_server.py``. ``cd`` changes the directory it remembers,
``pwd`` says what it is, and so do the resource ``shell://cwd`` and the prompt ``where``;
nothing touches the file system.
"""

from __future__ import annotations

import posixpath

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

shell = MCPServer("shell")
state = {"cwd": "/home"}


@shell.tool(annotations=ToolAnnotations(read_only_hint=True))
def cd(path: str) -> str:
    """Change the working directory."""
    state["cwd"] = posixpath.normpath(posixpath.join(state["cwd"], path))
    return state["cwd"]


@shell.tool(annotations=ToolAnnotations(read_only_hint=True))
def pwd() -> str:
    """The working directory."""
    return state["cwd"]


@shell.resource("shell://cwd")
def cwd() -> str:
    """The working directory, as a resource."""
    return state["cwd"]


@shell.prompt()
def where() -> str:
    """A prompt that names the working directory."""
    return f"You are in {state['cwd']}."


if __name__ == "__main__":
    shell.run()
