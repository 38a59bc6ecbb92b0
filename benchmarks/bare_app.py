"""The baseline: bare Starlette answering a constant JSON body, served like flux-mock (one uvicorn worker)."""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def constant(request):
    return JSONResponse({"output": "http://127.0.0.1/media/0123456789abcdef/1024x1024-0.png"})


app = Starlette(routes=[Route("/constant", constant, methods=["GET", "POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
