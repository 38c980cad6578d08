"""Run the demo ticket desk on stdio."""

from ._server import build_demo_server

if __name__ == "__main__":
    build_demo_server().run()
