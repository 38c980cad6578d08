"""The demo ticket desk (``python -m quartermaster.demo``), a real downstream for trying things."""

from ._server import build_demo_server as build_demo_server
