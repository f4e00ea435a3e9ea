"""The live dashboard: `dcgan serve` runs this FastAPI app (REST API, WebSocket and the page) on one port.

    from dcgan.server import create_app
    app = create_app("runs")
"""

from dcgan.server.app import create_app

__all__ = ["create_app"]
