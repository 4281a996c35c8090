"""The HTTP API (``/v1``): FastAPI routes over ``rota.App``. Internal package; the public
entry point is ``rota.api.app.create_api``."""
