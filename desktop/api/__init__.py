"""The local HTTP API (FastAPI on uvicorn): `agentq serve`, or inside the window's event loop.

Modules: `app` (the routes), `server` (binding and running), `credentials` (the bearer token and
hook secrets, private files in the config folder), `webhooks` (signatures), `health`, `limits`
(request body cap) and `tracking` (which enqueues were new). Importing this package loads nothing.
"""
