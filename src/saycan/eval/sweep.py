"""`saycan eval`: episodes over tasks x seeds, records appended as they finish, resumable."""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from saycan.errors import SayCanError
from saycan.eval.episode import run_episode
from saycan.eval.metrics import rate, summarise
from saycan.eval.run import build_components
from saycan.sim.tasks import available_tasks, load_task


def _append(path: Path, record: dict) -> None:
    """One line per episode, flushed and fsynced: an interrupted sweep loses nothing finished."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _finished(path: Path) -> dict[tuple[str, int], dict]:
    done: dict[tuple[str, int], dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill: that episode runs again
            done[(r["task_arg"], int(r["seed"]))] = r
    return done


def machine() -> dict:
    import torch

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch_threads": torch.get_num_threads()}


def eval_command(cfg: DictConfig, run_dir: Path) -> int:
    out_dir = Path(cfg.output_dir) if cfg.output_dir else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = list(available_tasks()) if cfg.tasks == "all" else [str(t) for t in cfg.tasks]
    for t in tasks:
        load_task(t)  # fail fast, before any episode, on an unknown or malformed task
    seeds = range(int(cfg.seed_start), int(cfg.seed_start) + int(cfg.episodes_per_task))
    results_path = out_dir / "results.jsonl"
    finished = _finished(results_path)
    components = build_components(cfg)
    records = []
    start = time.perf_counter()
    try:
        for task in tasks:
            for seed in seeds:
                if (task, seed) in finished:
                    records.append(finished[(task, seed)])
                    continue
                episode_dir = out_dir / "episodes" / Path(task).stem / str(seed)
                try:
                    result = run_episode(
                        components, task, seed, episode_dir, split=str(cfg.split),
                        instruction=cfg.instruction, max_steps=cfg.max_steps,
                        video=bool(cfg.video), frames=bool(cfg.frames),
                    ).to_dict()
                except SayCanError:
                    raise
                except Exception as exc:  # one broken episode must not sink the sweep
                    result = {"task": Path(task).stem, "seed": seed, "success": False,
                              "error": f"{type(exc).__name__}: {exc}",
                              "traceback": traceback.format_exc(limit=5)}
                result["task_arg"] = task
                _append(results_path, result)
                records.append(result)
                if not cfg.quiet:
                    print(f"{result['task']:28s} seed {seed}: {'ok' if result['success'] else 'FAIL'}", flush=True)
    finally:
        components.close()
    summary = {
        "episodes": len(records),
        "tasks": len(tasks),
        **rate(sum(bool(r["success"]) for r in records), len(records)),
        "per_task": summarise(records, "task"),
        "per_family": summarise([r for r in records if "family" in r], "family"),
        "llm": OmegaConf.select(cfg, "llm.model"),
        "planner": OmegaConf.select(cfg, "planner.name") or str(cfg.planner.get("_target_")),
        "executor": OmegaConf.select(cfg, "executor._target_"),
        "split": str(cfg.split),
        "seeds": [seeds.start, seeds.stop - 1],
        "mean_steps": round(sum(r.get("steps", 0) for r in records) / max(len(records), 1), 3),
        "wall_s": round(time.perf_counter() - start, 1),
        "results_dir": str(out_dir),
        "machine": machine(),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary), flush=True)
    return 0
