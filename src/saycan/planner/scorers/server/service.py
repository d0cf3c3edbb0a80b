"""The model-facing half of `saycan serve-llm`: what a valid OpenAI request is, and its answer.

Request bodies are strict pydantic models (an int is an int: `"abc"`, `1.5` and `true` are not
token counts), checked against the served model (its name, its context length) before anything
waits for the model, so every malformed field is a typed 4xx and never a 500. The replies are
built from `TokenLogprobs` (scoring, chat log-probs) and `TransformersGenerator` (generation:
`/v1/completions` with echo=false and `max_tokens` > 0, chat without log-probs), which decode
greedily, whatever `temperature` says. Generated tokens count against the same
`max_request_tokens` budget as prompt tokens (a request asks for its prompts plus `max_tokens`
per prompt), so a generating client holds the model no longer than a scoring one. Nothing here
knows HTTP: the HTTP layer (app.py) reads, limits and
queues the bodies and runs `run_*` one at a time.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from saycan.planner.generators.stops import MAX_STOPS
from saycan.planner.generators.transformers_generator import TransformersGenerator
from saycan.planner.scorers.token_logprobs import TokenLogprobs

MAX_CHAT_TOKENS = 16  # chat with log-probs scores choices; it is not a writer
MAX_TOP_LOGPROBS = 20  # OpenAI's own maximum
MAX_GENERATED_TOKENS = 512  # per prompt: a planner's step, goal or short program
DEFAULT_GENERATED_TOKENS = 16  # OpenAI's default `max_tokens` for completions


class RequestError(Exception):
    """A request the server refuses: an OpenAI-style JSON error with HTTP `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.type, self.param, self.code = status, type_, param, code

    def body(self) -> dict[str, Any]:
        """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
        return {
            "error": {
                "message": str(self),
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class _Strict(BaseModel):
    """Strict types; unknown fields (temperature, user, ...) are ignored, as OpenAI's are."""

    model_config = ConfigDict(strict=True, extra="ignore")


TopK = Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)]
StopText = Annotated[str, Field(min_length=1)]
Stop = StopText | Annotated[list[StopText], Field(min_length=1, max_length=MAX_STOPS)]


class CompletionRequest(_Strict):
    """`POST /v1/completions`: scoring (echo=true, max_tokens=0) or generation (echo=false)."""

    model: str
    prompt: str | Annotated[list[str], Field(min_length=1)]
    echo: bool = False
    max_tokens: Annotated[int, Field(ge=0)] | None = None
    logprobs: TopK | None = None
    stream: bool | None = None
    stop: Stop | None = None


class ContentPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


ChatTokens = Annotated[int, Field(ge=1, le=MAX_GENERATED_TOKENS)]


class ChatRequest(_Strict):
    """`POST /v1/chat/completions`: a few greedy tokens with their log-probs, or a greedy
    reply up to `max_tokens` and the stop sequences (no log-probs)."""

    model: str
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: ChatTokens | None = None
    max_completion_tokens: ChatTokens | None = None
    logprobs: bool | None = None
    top_logprobs: TopK | None = None
    stream: bool | None = None
    stop: Stop | None = None


@dataclass(frozen=True)
class CompletionJob:
    """A validated completions request that fits the context: only the model is left to run.
    `max_tokens` 0: score (echo); > 0: generate that many tokens at most per prompt."""

    texts: list[str]
    top_k: int
    max_tokens: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatJob:
    messages: list[dict[str, str]]
    max_tokens: int
    top_k: int
    logprobs: bool
    stop: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()  # the chat template's tokens (generation only)


def decode_json(raw: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object; anything else (bad UTF-8, NaN, huge numbers, nesting deeper
    than `max_depth`) is a 400."""
    try:
        body = json.loads(raw or b"{}", parse_constant=_no_constant)
    except RecursionError:
        raise RequestError(
            400, f"the JSON body is nested deeper than {max_depth} levels", code="json_too_deep"
        ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int too long, NaN
        raise RequestError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object", code="invalid_json")
    if _depth(body) > max_depth:
        raise RequestError(
            400, f"the JSON body is nested deeper than {max_depth} levels", code="json_too_deep"
        )
    return body


class LLMService:
    """The API's logic over one loaded model, independent of HTTP."""

    def __init__(
        self,
        engine: TokenLogprobs,
        model_name: str,
        max_texts: int = 256,
        max_messages: int = 256,
        max_request_tokens: int = 65536,
    ):
        self.engine = engine
        self.generator = TransformersGenerator(engine.scorer)  # the same loaded model
        self.model_name = model_name
        self.max_texts = int(max_texts)
        self.max_messages = int(max_messages)
        self.max_request_tokens = int(max_request_tokens)

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": self.model_name, "object": "model", "created": 0, "owned_by": "saycan"}
            ],
        }

    # ------------------------------------------------------------------ validation (no model)

    def _parse(
        self, model: type[CompletionRequest] | type[ChatRequest], body: dict[str, Any]
    ) -> Any:
        """Fields, the served model and no streaming: what both endpoints require."""
        req = _validate(model, body)
        self._check_model(req.model)
        if req.stream:
            raise RequestError(
                400, "streaming is not supported", param="stream", code="stream_unsupported"
            )
        return req

    def parse_completion(self, body: dict[str, Any]) -> CompletionRequest:
        req = self._parse(CompletionRequest, body)
        if req.echo and (req.max_tokens or 0) != 0:
            raise RequestError(
                400,
                "echo=true scores prompts (max_tokens=0); to generate, send echo=false",
                param="max_tokens",
                code="scoring_only",
            )
        if not req.echo:
            self._check_generation(req.max_tokens, req.logprobs is not None, req.stop)
        if isinstance(req.prompt, list) and len(req.prompt) > self.max_texts:
            raise RequestError(
                400,
                f"at most {self.max_texts} prompts per request, got {len(req.prompt)}",
                param="prompt",
                code="too_many_prompts",
            )
        return req

    def parse_chat(self, body: dict[str, Any]) -> ChatRequest:
        req = self._parse(ChatRequest, body)
        if req.top_logprobs and not req.logprobs:  # else a scorer gets prose and no scores
            raise RequestError(
                400,
                "top_logprobs needs logprobs=true (OpenAI's rule)",
                param="top_logprobs",
                code="top_logprobs_without_logprobs",
            )
        if req.logprobs:
            cap = req.max_tokens or req.max_completion_tokens or 1
            if cap > MAX_CHAT_TOKENS or req.stop is not None:
                raise RequestError(
                    400,
                    f"with logprobs=true this server returns at most "
                    f"{MAX_CHAT_TOKENS} tokens and takes no stop sequences",
                    param="max_tokens" if req.stop is None else "stop",
                    code="logprobs_limits",
                )
        if len(req.messages) > self.max_messages:
            raise RequestError(
                400,
                f"at most {self.max_messages} messages per request, got {len(req.messages)}",
                param="messages",
                code="too_many_messages",
            )
        if not getattr(self.engine.tokenizer, "chat_template", None):
            raise RequestError(
                400, f"model {self.model_name!r} has no chat template", code="no_chat_template"
            )
        return req

    # ------------------------------------------------------------------ fitting (tokenizer only)

    def fit_completion(self, req: CompletionRequest) -> CompletionJob:
        """Tokenise and check the context: a prompt too long for the model is a 400 here,
        before the request waits for (and would hold) the model."""
        texts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
        counts = [self.engine.scorer.count_tokens(text) for text in texts]
        new = 0 if req.echo else _generated_tokens(req.max_tokens)
        if new and 0 in counts:  # no token (no BOS either): the model has nothing to continue
            raise RequestError(
                400,
                f"prompt {counts.index(0)} is empty: there is nothing to continue",
                param="prompt",
                code="empty_prompt",
            )
        self._check_context(max(counts), new, "prompt")
        self._check_budget(sum(counts), new * len(texts), "prompt")
        return CompletionJob(texts, req.logprobs or 0, new, _stops(req.stop))

    def fit_chat(self, req: ChatRequest) -> ChatJob:
        messages = [{"role": m.role, "content": _text(m.content)} for m in req.messages]
        default = 1 if req.logprobs else DEFAULT_GENERATED_TOKENS
        max_tokens = req.max_tokens or req.max_completion_tokens or default
        try:  # the text `TokenLogprobs.chat` runs: the chat template, no further special tokens
            text = self.engine.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:  # noqa: BLE001 - jinja's errors: the template refused them
            raise RequestError(
                400,
                f"the chat template refused these messages: {type(exc).__name__}: {exc}",
                param="messages",
                code="chat_template_refused",
            ) from None
        ids = tuple(self.engine.tokenizer(text, add_special_tokens=False).input_ids)
        self._check_context(len(ids), max_tokens, "messages")
        self._check_budget(len(ids), max_tokens, "messages")
        return ChatJob(
            messages, max_tokens, req.top_logprobs or 0, bool(req.logprobs), _stops(req.stop), ids
        )

    # ------------------------------------------------------------------ the model (one at a time)

    def run_completion(self, job: CompletionJob) -> dict[str, Any]:
        if job.max_tokens:
            return self._run_generation(job)
        echoed = self.engine.echo(job.texts, job.top_k)
        choices = [
            {
                "index": i,
                "text": text,
                "finish_reason": "length",
                "logprobs": {
                    "tokens": e.tokens,
                    "token_logprobs": e.token_logprobs,
                    "text_offset": e.text_offset,
                    "top_logprobs": e.top_logprobs,
                },
            }
            for i, (text, e) in enumerate(zip(job.texts, echoed))
        ]
        return self._envelope("text_completion", choices, sum(len(e.tokens) for e in echoed), 0)

    def _run_generation(self, job: CompletionJob) -> dict[str, Any]:
        """Each prompt continued greedily; the text ends before the first stop sequence."""
        choices, prompt_tokens, completion_tokens = [], 0, 0
        with self.engine.lock:
            for i, text in enumerate(job.texts):
                gen = self.generator.generate(text, max_new_tokens=job.max_tokens, stop=job.stop)
                choices.append(
                    {
                        "index": i,
                        "text": gen.text,
                        "logprobs": None,
                        "finish_reason": _finish(gen.stopped_by),
                    }
                )
                prompt_tokens += gen.prompt_tokens
                completion_tokens += gen.generated_tokens
        return self._envelope("text_completion", choices, prompt_tokens, completion_tokens)

    def _run_chat_generation(self, job: ChatJob) -> dict[str, Any]:
        with self.engine.lock:
            gen = self.generator.continue_ids(list(job.ids), job.max_tokens, job.stop)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": gen.text},
            "logprobs": None,
            "finish_reason": _finish(gen.stopped_by),
        }
        return self._envelope("chat.completion", [choice], gen.prompt_tokens, gen.generated_tokens)

    def run_chat(self, job: ChatJob) -> dict[str, Any]:
        if not job.logprobs:
            return self._run_chat_generation(job)
        gen = self.engine.chat(job.messages, job.max_tokens, job.top_k)
        logprobs = None
        if job.logprobs:
            logprobs = {
                "content": [
                    {
                        "token": t,
                        "logprob": lp,
                        "bytes": list(t.encode()),
                        "top_logprobs": [
                            {"token": a, "logprob": b, "bytes": list(a.encode())} for a, b in top
                        ],
                    }
                    for t, lp, top in zip(gen.tokens, gen.logprobs, gen.top)
                ]
            }
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(gen.tokens)},
            "logprobs": logprobs,
            "finish_reason": gen.finish_reason,
        }
        return self._envelope("chat.completion", [choice], 0, len(gen.tokens))

    # ------------------------------------------------------------------ helpers

    def _check_model(self, name: str) -> None:
        if name != self.model_name:
            raise RequestError(
                404,
                f"the model {name!r} does not exist; this server serves {self.model_name!r}",
                param="model",
                code="model_not_found",
            )

    def _check_generation(self, max_tokens: int | None, logprobs: bool, stop: object) -> None:
        """A generation request (echo=false): something to generate, within the cap, and no
        per-token log-probs (this server reports them only for scoring and chat choices)."""
        if max_tokens == 0:
            raise RequestError(
                400,
                "max_tokens=0 without echo asks for nothing: send echo=true "
                "to score, or max_tokens > 0 to generate",
                param="max_tokens",
                code="nothing_to_do",
            )
        if max_tokens is not None and max_tokens > MAX_GENERATED_TOKENS:
            raise RequestError(
                400,
                f"at most {MAX_GENERATED_TOKENS} tokens are generated per "
                f"prompt, got max_tokens={max_tokens}",
                param="max_tokens",
                code="too_many_tokens",
            )
        if logprobs:
            raise RequestError(
                400,
                "logprobs are returned for scoring (echo=true) only, not for generated text",
                param="logprobs",
                code="logprobs_unsupported",
            )

    def _check_budget(self, prompt_tokens: int, new_tokens: int, param: str) -> None:
        """The time one request may hold the model: prompt tokens + tokens to generate."""
        if prompt_tokens + new_tokens > self.max_request_tokens:
            raise RequestError(
                400,
                f"at most {self.max_request_tokens} prompt tokens per request (generated "
                f"tokens included), got {prompt_tokens}"
                + (f" + {new_tokens} to generate" if new_tokens else "")
                + ": split the prompts over several requests",
                param=param,
                code="too_many_tokens",
            )

    def _check_context(self, tokens: int, new_tokens: int, param: str) -> None:
        limit = self.engine.scorer.context_length
        if limit is not None and tokens + new_tokens > limit:
            raise RequestError(
                400,
                f"this model's maximum context length is {limit} tokens; the request needs "
                f"{tokens + new_tokens} ({tokens} in the {param}, {new_tokens} to generate)",
                param=param,
                code="context_length_exceeded",
            )

    def _envelope(
        self, kind: str, choices: list, prompt_tokens: int, completion_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": f"{'chatcmpl' if kind.startswith('chat') else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _validate(model: type[_Strict], body: dict[str, Any]) -> Any:
    """The body as `model`, or a 400 naming the first bad field (`param`: its dotted path)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        fields = _FIELD_NAMES  # the path without pydantic's union-branch labels ('str', ...)
        param = ".".join(str(p) for p in first["loc"] if isinstance(p, int) or p in fields) or None
        raise RequestError(
            400, f"{param or 'body'}: {first['msg']}", param=param, code=str(first["type"])
        ) from None


_FIELD_NAMES = frozenset(
    name
    for m in (CompletionRequest, ChatRequest, ChatMessage, ContentPart)
    for name in m.model_fields
)


def _generated_tokens(max_tokens: int | None) -> int:
    return DEFAULT_GENERATED_TOKENS if max_tokens is None else max_tokens


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    return () if stop is None else (stop,) if isinstance(stop, str) else tuple(stop)


def _finish(stopped_by: str) -> str:
    """OpenAI's finish_reason: "stop" for a stop sequence or the end of text, else "length"."""
    return "length" if stopped_by == "length" else "stop"


def _text(content: str | list[ContentPart] | None) -> str:
    """A message's text: a string or OpenAI's list of text parts (None: empty)."""
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (a deep body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


__all__ = ["ChatRequest", "CompletionRequest", "LLMService", "RequestError", "decode_json"]
