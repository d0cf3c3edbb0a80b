"""An OpenAI-compatible HTTP server for this project's local models (`saycan serve-llm`).

Why: sweep workers can share one loaded model instead of loading one each, any OpenAI client
can use the packaged models, and the `openai` backend is tested end to end against a real
server. Endpoints (the subset SayCan scoring needs):

* ``GET  /v1/models``
* ``POST /v1/completions``: ``echo=true`` with ``max_tokens=0`` (prompt log-probs only: this
  server scores, it does not write); ``prompt`` is a string or a list of strings; ``logprobs``
  is the number of top alternatives per token (0: none).
* ``POST /v1/chat/completions``: greedy tokens (``max_tokens``, default 1, at most 16) with
  ``logprobs`` / ``top_logprobs`` (at most 20), through the tokenizer's chat template.

Three modules, one job each: `service` (the model-facing API: strict request models, context
check, replies), `app` (HTTP on uvicorn + Starlette: key, body, timeouts, queue, status codes),
`runner` (sockets, threads, the CLI command); `limits` holds the validated bounds.
"""

from saycan.planner.scorers.server.app import build_app
from saycan.planner.scorers.server.limits import ServerLimits
from saycan.planner.scorers.server.runner import LLMServer, make_server, serve_command
from saycan.planner.scorers.server.service import LLMService, RequestError

__all__ = [
    "LLMServer",
    "LLMService",
    "RequestError",
    "ServerLimits",
    "build_app",
    "make_server",
    "serve_command",
]
