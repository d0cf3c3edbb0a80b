"""The case schema and loader: the catalogue is data, so adding a hostile case needs no code."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from saycan.errors import ConfigError

#: What a user may see. CLI: `clear_error` (exit 2, one `saycan: error:` line on stderr),
#: `runs` (exit 0 or 1, a JSON object as the last stdout line), `interrupted` (exit 130 and an
#: episode.json that says so). HTTP cases expect statuses instead.
Outcome = Literal["clear_error", "runs", "interrupted"]
Kind = Literal[
    "cli", "signal", "kill_resume", "fsize", "http", "http_desync", "http_slow", "http_flood"
]
CLI_KINDS = ("cli", "signal", "kill_resume", "fsize")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpRequest(_Strict):
    """One request to `serve-llm`, written byte by byte by the harness (headers as given)."""

    method: str = "POST"
    path: str = "/v1/completions"
    auth: Literal["good", "bad", "none"] = "good"
    headers: dict[str, str] = Field(default_factory=dict, description="Content-Length overrides")
    json_body: Any = None
    raw_body: str | None = None
    filler_bytes: int = Field(0, ge=0, le=200_000_000, description="'x' bytes after the body")
    nest_depth: int = Field(0, ge=0, le=1_000_000, description="a prompt nested this deep")
    prompt_words: int = Field(0, ge=0, le=100_000, description="a prompt of this many words")


class Case(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    group: str
    kind: Kind = "cli"
    note: str = ""
    # CLI cases
    argv: tuple[str, ...] = ()
    cheap: bool = Field(True, description="append the cheap suffix (oracle, teleport, no video)")
    env_unset: tuple[str, ...] = ()
    expect: tuple[Outcome, ...] = ()
    files_exist: tuple[str, ...] = Field((), description="paths under the run dir that must exist")
    files_absent: tuple[str, ...] = Field((), description="paths that must not exist afterwards")
    pre_argv: tuple[str, ...] = Field((), description="a first run that must finish (exit 0)")
    signal: Literal["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"] | None = None
    signal_after_lines: int = Field(1, ge=1, description="...of trace.jsonl / results.jsonl")
    fsize_slack: int = Field(0, ge=0, description="RLIMIT_FSIZE = results.jsonl size + this")
    timeout_s: float = Field(90.0, gt=0, le=600)
    # HTTP cases
    request: HttpRequest | None = None
    status: tuple[int, ...] = Field((), description="acceptable HTTP statuses")
    max_accepted_bytes: int | None = Field(None, description="body bytes read before replying")
    connections: int = Field(1, ge=1, le=256)
    probe_status: tuple[int, ...] = Field((), description="a normal request meanwhile gets this")
    need_status: int | None = Field(None, description="a flood must see this status at least once")

    @model_validator(mode="after")
    def _coherent(self) -> Case:
        if self.kind in CLI_KINDS:
            if not self.argv or not self.expect:
                raise ValueError("a CLI case needs argv and expect")
        elif self.request is None:
            raise ValueError("an HTTP case needs a request")
        if self.kind == "signal" and self.signal is None:
            raise ValueError("a signal case names its signal")
        if self.kind == "kill_resume" and self.signal != "SIGKILL":
            raise ValueError("a kill_resume case kills with SIGKILL")
        return self


def load_cases(path: Path) -> list[Case]:
    """Read and validate the catalogue; a bad file is one ConfigError line."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        cases = [Case.model_validate(item) for item in data["cases"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"robustness catalogue {path}: {type(exc).__name__}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"robustness catalogue {path}: {where}: {first['msg']}") from None
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"robustness catalogue {path}: duplicate case names {duplicates}")
    return cases


def select(cases: list[Case], patterns: str | list[str] | tuple[str, ...] | None) -> list[Case]:
    """Cases whose name (or group) matches any of `patterns` (names or globs); None: all."""
    if patterns is None:
        return cases
    wanted = [patterns] if isinstance(patterns, str) else [str(p) for p in patterns]
    chosen = [
        c for c in cases if any(fnmatch.fnmatchcase(c.name, p) or c.group == p for p in wanted)
    ]
    if not chosen:
        raise ConfigError(f"cases={wanted} matches no case of the robustness catalogue")
    return chosen
