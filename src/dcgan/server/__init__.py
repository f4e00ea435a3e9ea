"""The live dashboard: `dcgan serve` runs this FastAPI app (REST API, WebSocket and the page) on one port.

    from dcgan.server import create_app
    app = create_app("runs")
"""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Loaded when first asked for: `dcgan serve` checks its options with dcgan.server.security alone, in a fraction
    # of a second, before the app (FastAPI, torch) is imported.
    if name == "create_app":
        from dcgan.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
