"""The bare baseline: a FastAPI form endpoint under the same uvicorn settings as
`gangway serve` (one process, no access log), answering Twilio's webhook with the
same empty TwiML after reading the form, and doing nothing else.

What gangway's webhook acknowledgement adds (signature check, durable insert, waking
the worker) shows as the ratio of the two under the same flood.

    python -m bench.bare_app --port 18100
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, Request, Response

__all__ = ["create_app", "main"]

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/webhooks/twilio/whatsapp")
    async def inbound(request: Request) -> Response:
        await request.form()
        return Response(EMPTY_TWIML, media_type="text/xml")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
