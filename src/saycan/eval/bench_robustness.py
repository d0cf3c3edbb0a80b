"""`saycan bench robustness`: run the catalogue of hostile inputs and faults, count what a user
would see go wrong (tracebacks, leaked secrets, hangs, lost records, a dead server, any
outcome other than the promised one) and write a per-case table into the run directory.

Every child gets a fresh random canary as OPENAI_API_KEY (and every other secret variable the
stack or its libraries read), so any appearance of it in output, files or outgoing prompts is
a leak. CLI cases run `workers` at a time; the HTTP cases share one `serve-llm` child and run
in order inside one of those workers.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from saycan.eval.robustness import fixtures
from saycan.eval.robustness.capture import CaptureServer
from saycan.eval.robustness.catalogue import CLI_KINDS, Case, load_cases, select
from saycan.eval.robustness.cli_cases import Context, run_cli_case
from saycan.eval.robustness.http_cases import Server, free_port, run_http_case
from saycan.eval.robustness.judge import CaseResult

#: Environment variables that hold secrets the stack (OPENAI_API_KEY through `api_key_env`) or
#: its libraries (huggingface_hub) read: all get the canary.
SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
PACKAGED = "assets/robustness/cases.yaml"


def _http_job(cases: list[Case], ctx: Context) -> tuple[list[CaseResult], bool]:
    """Start serve-llm, run the HTTP cases in order, then check it still serves."""
    server = Server(ctx, ctx.root / "_serve_llm")
    try:
        problem = server.start()
        if problem:
            failed = [
                CaseResult(
                    name=c.name,
                    group=c.group,
                    kind=c.kind,
                    expected="server up",
                    observed="server_not_started",
                    ok=False,
                    detail=problem,
                )
                for c in cases
            ]
            return failed, False
        results = [run_http_case(c, server) for c in cases]
        return results, server.alive()
    finally:
        server.stop()


def _counts(results: list[CaseResult], alive: bool | None) -> dict[str, Any]:
    return {
        "cases": len(results),
        "clear_errors": sum(r.observed == "clear_error" for r in results),
        "tracebacks": sum(r.traceback for r in results),
        "secrets_leaked": sum(r.leaked for r in results),
        "server_alive_after": alive,
        "records_lost": sum(r.records_lost for r in results),
        "hangs": sum(r.hung for r in results),
        "unexpected": sum(not r.ok for r in results),
    }


def write_tables(out_dir: Path, results: list[CaseResult], counts: dict[str, Any]) -> Path:
    """results.json (every field) and results.md (the table docs can cite)."""
    (out_dir / "results.json").write_text(
        json.dumps({"counts": counts, "cases": [r.to_dict() for r in results]}, indent=1)
    )
    rows = [
        "| case | group | expected | observed | exit | s | traceback | leak | ok | detail |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        detail = r.detail.replace("|", "\\|").replace("\n", " ")
        expected = r.expected.replace("|", " or ")
        rows.append(
            f"| {r.name} | {r.group} | {expected} | {r.observed} | "
            f"{'' if r.exit_code is None else r.exit_code} | {r.seconds} | "
            f"{'yes' if r.traceback else ''} | {'yes' if r.leaked else ''} | "
            f"{'ok' if r.ok else 'NO'} | {detail} |"
        )
    path = out_dir / "results.md"
    path.write_text("\n".join([json.dumps(counts), "", *rows]) + "\n")
    return path


def bench_robustness(cfg: DictConfig) -> dict[str, Any]:
    if cfg.get("output_dir"):
        out_dir = Path(cfg.output_dir)
    else:
        from hydra.core.hydra_config import HydraConfig

        out_dir = Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalogue = (
        Path(cfg.catalogue)
        if cfg.get("catalogue")
        else Path(str(resources.files("saycan").joinpath(PACKAGED)))
    )
    wanted = OmegaConf.to_object(cfg.cases) if OmegaConf.is_list(cfg.cases) else cfg.cases
    cases = select(load_cases(catalogue), wanted)
    canary = "sk-canary-" + secrets.token_hex(16)
    root = out_dir / "fixtures"
    start = time.monotonic()
    facts = fixtures.build(root)
    env = {**os.environ, **{name: canary for name in SECRET_ENV}}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        with CaptureServer() as capture:
            ctx = Context(
                root=out_dir / "cases",
                env=env,
                canary=canary,
                captured=capture.received,
                tokens={
                    "fixtures": str(root),
                    "closed_port": str(free_port()),
                    "capture_url": capture.url,
                    "text_100k": "put the red block " * 5700,
                },
            )
            cli = [c for c in cases if c.kind in CLI_KINDS]
            http = [c for c in cases if c.kind not in CLI_KINDS]
            with ThreadPoolExecutor(max_workers=max(1, int(cfg.workers))) as pool:
                http_future = pool.submit(_http_job, http, ctx) if http else None
                ran = pool.map(lambda c: run_cli_case(c, ctx), cli)
                done = {c.name: r for c, r in zip(cli, ran)}
                alive = None
                if http_future is not None:
                    http_results, alive = http_future.result()
                    done.update({r.name: r for r in http_results})
    finally:
        fixtures.cleanup(root)
    results = [done[c.name] for c in cases]
    counts = _counts(results, alive)
    table = write_tables(out_dir, results, counts)
    counts.update(
        {
            "failed": bool(
                counts["unexpected"]
                or counts["tracebacks"]
                or counts["secrets_leaked"]
                or counts["records_lost"]
                or counts["hangs"]
                or alive is False
            ),
            "unexpected_cases": [r.name for r in results if not r.ok],
            "readonly_dir_refuses_writes": facts["readonly_refuses_writes"] == "true",
            "table": str(table),
            "wall_s": round(time.monotonic() - start, 1),
            "workers": int(cfg.workers),
        }
    )
    return counts
