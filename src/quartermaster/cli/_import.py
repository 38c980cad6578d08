"""``quartermaster import openapi``: an OpenAPI document as a ``systems:`` section to review."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..httptools import import_openapi


def register(commands: Any) -> None:
    """Add ``import openapi``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "import",
        help="turn API descriptions into tools.yaml declarations",
        description="Import an API description as YAML to review and paste into tools.yaml.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    openapi = kinds.add_parser(
        "openapi",
        help="an OpenAPI 3.0/3.1 document (YAML or JSON)",
        description="Print a systems: section with one tool per operation. Risk classes are "
        "guessed from the HTTP method and marked for review. See docs/http-tools.md.",
    )
    openapi.add_argument("spec", type=Path, metavar="SPEC", help="the OpenAPI document")
    openapi.add_argument("--system", required=True, help="the system's name in tools.yaml")
    openapi.add_argument("--base-url", help="the API's base URL (default: the document's)")
    openapi.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the YAML."""
    print(import_openapi(args.spec, args.system, base_url=args.base_url), end="")
    return 0
