"""`saycan train planner`: a LoRA adapter that makes the expert's next call likely.

SayCan scores every candidate call by log p(call | prompt). A 135M model reads a tabletop
prompt badly (it favours the first object listed, stops early, and cannot resolve "the colour
of the sky"), so we adapt it to the prompt the planner actually renders: each training example
is (prompt, the expert's call, the candidates) from `planner_data`, and the loss is a softmax
over every candidate's summed log-prob (the planner's own ranking) plus the expert call's token
cross-entropy (`fit_lora`). Nothing else changes: the same scorer scores the same candidates, the
affordances still weigh them, and the adapter is merged into the weights at load.

Robustness by construction: each decision is rendered with a feedback mode drawn from
`feedback_modes`, and a share of examples (`retry_share`) replays a step marked
`# Success: no` with the scene unchanged, whose expert answer is the same call again (what an
expert does after a failed grasp). The data is seen templates and seen colours only, from the
training seed range; validation episodes are held out by seed.
"""

from __future__ import annotations

import gc
import gzip
import inspect
import json
import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from saycan.errors import ConfigError, SayCanError
from saycan.files import write_atomic
from saycan.planner.prompts import HistoryStep, PromptBuilder
from saycan.planner.retrieval import write_pool
from saycan.planner.scorers.adapters import CONFIG_FILE, META_FILE, Adapter, resolve_adapter
from saycan.planner.scorers.packing import layer_kinds, pack_refusal
from saycan.seeds import PLANNER_TRAINING, check_training_seeds
from saycan.sim.tasks.colour_split import HELD_OUT_COLOURS
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall
from saycan.train.affordance_data import scene_from_json
from saycan.train.option_packing import PackedDecision, batch_inputs, option_logprobs, pack_decision
from saycan.train.planner_data import (
    DataOptions,
    goal_predicates,
    load_or_generate,
    share,
    task_key,
    whole,
)
from saycan.train.train_state import (
    LOWER_PASS_FILE,
    STATE_FILE,
    TrainState,
    drop_lower_pass,
    json_digest,
    read_lower_pass,
    read_state,
    save_lower_pass,
    save_state,
    training_digest,
)
from saycan.weights import weights_fingerprint


def parse_call(text: str) -> SkillCall:
    """`robot.pick_and_place(a, b)` -> SkillCall: for the data files this trainer wrote itself
    (rendered by `SkillCall.to_text`), never for model output."""
    if not (text.startswith("robot.") and text.endswith(")") and "(" in text):
        raise ValueError(f"not a rendered skill call: {text!r}")
    name, _, args = text[len("robot.") : -1].partition("(")
    return SkillCall(name, tuple(a.strip() for a in args.split(",")) if args.strip() else ())


def _history(steps: Sequence[dict[str, Any]]) -> list[HistoryStep]:
    return [
        HistoryStep(
            parse_call(h["call"]),
            h.get("success"),
            scene_from_json(h["scene_after"]) if h.get("scene_after") else None,
        )
        for h in steps
    ]


def training_examples(
    episodes: Sequence[dict[str, Any]],
    prompt_cfg: DictConfig,
    feedback_modes: Sequence[str],
    retry_share: float,
    rng: np.random.Generator,
) -> list[tuple[str, str, list[str]]]:
    """(prompt, expert call, candidate calls) triples, each decision rendered in a feedback
    mode drawn by `rng`."""
    builders = {
        mode: instantiate(OmegaConf.merge(prompt_cfg, {"feedback": mode}))
        for mode in feedback_modes
    }
    out: list[tuple[str, str, list[str]]] = []
    for ep in episodes:
        for d in ep["decisions"]:
            builder: PromptBuilder = builders[
                feedback_modes[int(rng.integers(len(feedback_modes)))]
            ]
            scene = scene_from_json(d["scene"])
            history = _history(d["history"])
            out.append(
                (
                    builder.build(ep["instruction"], scene, history),
                    d["target"],
                    list(d["candidates"]),
                )
            )
            if d["history"] and rng.random() < retry_share:
                # the last step failed and changed nothing: the expert tries the same call again
                last = d["history"][-1]
                prev = ep["decisions"][len(d["history"]) - 1]
                failed = [
                    *history[:-1],
                    HistoryStep(parse_call(last["call"]), False, scene_from_json(prev["scene"])),
                ]
                b = builders[feedback_modes[-1]] if feedback_modes[-1] != "none" else builder
                out.append(
                    (
                        b.build(ep["instruction"], scene_from_json(prev["scene"]), failed),
                        last["call"],
                        list(prev["candidates"]),
                    )
                )
    return out


def goal_holds_examples(
    episodes: Sequence[dict[str, Any]],
    prompt_cfg: DictConfig,
    feedback_modes: Sequence[str],
    share: float,
    rng: np.random.Generator,
) -> list[tuple[str, str, list[str]]]:
    """Instructions that are already done: a share of the episodes whose goal is a state that
    holds in their final scene (`goal_holds_at_end` in the data) give one more decision, that
    scene with no calls so far, whose expert answer is the `done` the expert gave there. The
    suite never starts with its goal met, so without these the adapter only ever sees `done`
    after a skill and moves something when asked for what is already true."""
    builders = [instantiate(OmegaConf.merge(prompt_cfg, {"feedback": m})) for m in feedback_modes]
    out: list[tuple[str, str, list[str]]] = []
    for ep in episodes:
        last = ep["decisions"][-1]
        if "goal_holds_at_end" not in ep:
            raise ConfigError(
                f"goal_holds_share needs episodes that say whether their goal holds at the end; "
                f"the episode cache's {ep['task']} seed {ep['seed']} predates that: give the run "
                "a fresh data= path"
            )
        qualifies = ep["goal_holds_at_end"] and last["history"] and last["target"] == DONE.to_text()
        if not qualifies or rng.random() >= share:
            continue
        builder: PromptBuilder = builders[int(rng.integers(len(builders)))]
        prompt = builder.build(ep["instruction"], scene_from_json(last["scene"]), [])
        out.append((prompt, last["target"], list(last["candidates"])))
    return out


def recovery_examples(
    episodes: Sequence[dict[str, Any]], prompt_cfg: DictConfig
) -> list[tuple[str, str, list[str]]]:
    """From expert episodes run under a disturbance: every decision after a failed step, as
    (prompt, expert call, candidates), rendered with feedback on (`# Success: no`). The other
    decisions of those episodes look like undisturbed data and are left out; with feedback off,
    a retry's only reason would be a scene line, which is what the feedback ablation is about."""
    builder: PromptBuilder = instantiate(OmegaConf.merge(prompt_cfg, {"feedback": "success"}))
    out: list[tuple[str, str, list[str]]] = []
    for ep in episodes:
        for d in ep["decisions"]:
            if any(h.get("success") is False for h in d["history"]):
                prompt = builder.build(
                    ep["instruction"], scene_from_json(d["scene"]), _history(d["history"])
                )
                out.append((prompt, d["target"], list(d["candidates"])))
    return out


#: Beside the adapter: every instruction its data held, so that once such an adapter is packaged
#: the decontamination test (tests/train/test_independent_not_trained.py) reads what it was
#: trained on, not only fresh samples of the grammar that wrote it. (The packaged adapter
#: predates this file; its instructions are the seen templates, which that test checks.)
INSTRUCTIONS_FILE = "training_instructions.json.gz"

#: The stream of `goal_holds_examples`' generator (`default_rng([optim.seed, stream])`).
GOAL_HOLDS_STREAM = 1


def write_instructions(episodes: Sequence[dict[str, Any]], path: Path) -> int:
    """The episodes' distinct instructions, sorted, as gzipped JSON (byte-identical for the
    same data); returns how many."""
    texts = sorted({str(e["instruction"]) for e in episodes if "instruction" in e})
    write_atomic(path, gzip.compress(json.dumps(texts, indent=0).encode("utf-8"), mtime=0))
    return len(texts)


def read_instructions(path: Path) -> list[str] | None:
    """What `write_instructions` wrote (None when the file is absent: adapters that predate
    it); ValueError when it is not a gzipped JSON list of strings."""
    if not path.is_file():
        return None
    texts = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{path.name} is not a list of instructions")
    return texts


@dataclass(frozen=True)
class InitAdapter:
    """An adapter training goes on from (`init_adapter`): cheaper than training anew when the
    new data mostly adds to what the adapter already does (new wording for the same skills)."""

    adapter: Adapter
    layers: tuple[int, ...] | None  # the decoder layers it adapts (None: all of them)
    shape: dict[str, Any]  # its adapter_config.json in the `lora:` config's terms
    instructions: tuple[str, ...] | None  # what its data held (None: it predates the file)

    @property
    def path(self) -> Path:
        return self.adapter.path

    def record(self) -> dict[str, Any]:
        """For the new adapter's saycan_adapter.json: what the starting weights were, with
        everything their own metadata says (their data, seeds, their own `init`)."""
        return {
            "path": str(self.path),
            "identity": self.adapter.identity,
            "instructions": len(self.instructions) if self.instructions is not None else None,
            "meta": self.adapter.meta,
        }


def _adapter_layers(config: dict[str, Any], where: Path) -> tuple[int, ...] | None:
    """peft's `layers_to_transform`: a list, one int, or absent (every layer)."""
    layers = config.get("layers_to_transform")
    if layers is None:
        return None
    if isinstance(layers, int) and not isinstance(layers, bool):
        return (layers,)
    if isinstance(layers, list) and layers and all(type(x) is int for x in layers):
        return tuple(sorted(layers))
    raise ConfigError(f"init_adapter {str(where)!r}: layers_to_transform is {layers!r}")


def load_init_adapter(cfg: DictConfig) -> InitAdapter | None:
    """The adapter named by `init_adapter`, read whole and checked before any data is made:
    the same base model and the same prompt as this run (an adapter trained for another prompt
    would start from updates that mean something else), training seeds inside the training
    range (its weights carry its data into the new adapter). ConfigError names the mismatch."""
    name = cfg.get("init_adapter")
    if not name:
        return None
    try:
        adapter = resolve_adapter(str(name))
    except SayCanError as exc:
        raise ConfigError(f"init_adapter: {exc}") from None
    where = str(adapter.path)
    meta = adapter.meta
    if not isinstance(meta, dict) or not meta:
        raise ConfigError(f"init_adapter {where!r}: {META_FILE} is missing or not an object")
    try:
        config = json.loads((adapter.path / CONFIG_FILE).read_text(encoding="utf-8"))
        inherited = read_instructions(adapter.path / INSTRUCTIONS_FILE)
    except (OSError, ValueError, EOFError, zlib.error) as exc:  # JSON and UTF-8: ValueErrors
        raise ConfigError(
            f"init_adapter {where!r}: unreadable ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(config, dict):
        raise ConfigError(f"init_adapter {where!r}: {CONFIG_FILE} is not an object")
    base = meta.get("base")
    want = {"model": str(cfg.base.model), "gguf_file": cfg.base.gguf_file}
    if base != want:
        raise ConfigError(
            f"init_adapter {where!r} was trained on {base or 'an unrecorded model'}, "
            f"this run trains on {want}"
        )
    trained = meta.get("prompt")
    if not isinstance(trained, dict):
        raise ConfigError(f"init_adapter {where!r}: {META_FILE} records no prompt")
    prompt = OmegaConf.to_container(cfg.prompt, resolve=True)
    # `feedback` is not part of what an adapter is for: training renders every decision in
    # each of `feedback_modes`, whatever the prompt config says
    differ = sorted(
        k for k in {*trained, *prompt} - {"feedback"} if trained.get(k) != prompt.get(k)
    )
    if differ:
        raise ConfigError(
            f"init_adapter {where!r} was trained for another prompt than this run "
            f"renders (they differ in {', '.join(differ)}); choose its prompt "
            f"(its {META_FILE}) or train anew"
        )
    try:
        seeds = adapter.training_seeds
    except (TypeError, ValueError, IndexError, KeyError):
        seeds = range(-1, -1)  # unparseable: refused below like any range outside training
    if seeds is not None and not (
        PLANNER_TRAINING.start <= seeds.start <= seeds.stop <= PLANNER_TRAINING.stop
    ):
        raise ConfigError(
            f"init_adapter {where!r} records training seeds {meta.get('training_seeds')}, not "
            f"inside the training range [{PLANNER_TRAINING.start}, {PLANNER_TRAINING.stop})"
        )
    layers = _adapter_layers(config, adapter.path)
    shape = {
        "r": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "dropout": config.get("lora_dropout"),
        "target_modules": sorted(map(str, config.get("target_modules") or [])),
        "layers": list(layers) if layers is not None else "all",
    }
    _refuse_another_shape(cfg, shape, where)
    return InitAdapter(
        adapter,
        layers,
        shape,
        tuple(inherited) if inherited is not None else None,
    )


#: The packaged training config, whose `lora:` is what a run gets when it sets none.
TRAIN_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "train_planner.yaml"


def _refuse_another_shape(cfg: DictConfig, shape: dict[str, Any], where: str) -> None:
    """Training on keeps the adapter's own shape, so a `lora:` value set away from the packaged
    default that differs from that shape would be silently unused: refused, naming both."""
    asked = OmegaConf.to_container(cfg.lora, resolve=True)
    default = OmegaConf.to_container(OmegaConf.load(TRAIN_CONFIG).lora, resolve=True)
    has = {k: shape[k] for k in ("r", "alpha", "dropout", "target_modules")}
    has["top_layers"] = len(shape["layers"]) if isinstance(shape["layers"], list) else None

    def said(key: str, value: Any) -> Any:  # target modules are a set, in any order
        return sorted(map(str, value or [])) if key == "target_modules" else value

    differ = [
        f"lora.{k}={asked[k]} (the adapter's: {has[k]})"
        for k in has
        if k in asked and said(k, asked[k]) not in (said(k, default.get(k)), has[k])
    ]
    if differ:
        raise ConfigError(
            f"init_adapter {where!r} keeps its own shape, so {', '.join(differ)} cannot apply: "
            "drop the lora override, or train a new adapter without init_adapter"
        )


def disturbed_data_config(cfg: DictConfig) -> DictConfig:
    """The data config for the disturbed episodes: `disturbed.disturbance` in place of the
    configured one, and feedback on, so the loop runs as `saycan eval` runs it under that
    disturbance with feedback."""
    out = cfg.copy()
    with open_dict(out):
        out.disturbance = cfg.disturbed.disturbance
        out.prompt.feedback = "success"
    return out


def _seed_block(cfg: DictConfig, section: str, taken: Sequence[int]) -> list[int]:
    """The seeds of `section`'s own episodes (`disturbed`, `extra_grammar`): a block in the
    training range apart from the other episodes' (so no scene is seen twice and validation
    seeds stay unseen)."""
    d = cfg.get(section)
    if d is None:
        return []
    if not isinstance(d, Mapping):
        raise ConfigError(f"{section} must be a mapping of its options, got {d!r:.40}")
    n = whole(d.get("episodes_per_task"), f"{section}.episodes_per_task")
    start = whole(d.get("seed_start"), f"{section}.seed_start")  # a typo even with no episodes
    if n == 0:
        return []
    check_training_seeds([start, start + n - 1])  # the ends first: 10**10 seeds are no list
    seeds = list(range(start, start + n))
    if set(seeds) & set(taken):
        raise ConfigError(
            f"{section}.seed_start={start} overlaps the seeds of other episodes "
            f"({min(taken)}..{max(taken)}): give {section} its own block"
        )
    return seeds


def _cache_path(value: Any, key: str, default: Path) -> Path:
    """An episode cache's file (null: `default`), checked before an hour of data is generated
    and cannot be written."""
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be the path of a JSONL file or null, got {value!r}")
    if Path(value).is_dir():
        raise ConfigError(f"{key} {value!r} is a directory, not a JSONL file")
    return Path(value)


@dataclass(frozen=True)
class ExtraGrammar:
    """The grammar episodes added beside the template ones (`extra_grammar:`)."""

    seeds: list[int]
    tasks: list[str]
    goals: frozenset[str] | None
    config: DictConfig  # the data config they are generated under
    data: Path


def extra_grammar_config(cfg: DictConfig) -> DictConfig:
    """The data config for the extra grammar episodes: the grammar writes every instruction it
    can, for tasks whose goal has one of `extra_grammar.goals` (null: every goal), over the
    tasks' own scenes (only the wording differs from the template episodes)."""
    out = cfg.copy()
    with open_dict(out):
        out.instructions = {"grammar_share": 1.0, "grammar_goals": cfg.extra_grammar.goals}
        out.situations = {"share": 0.0, "variants": []}
    return out


def extra_grammar_plan(
    cfg: DictConfig, tasks: Sequence[str], taken: Sequence[int], run_dir: Path
) -> ExtraGrammar | None:
    """`extra_grammar:` checked whole before any data: None when it adds no episode."""
    seeds = _seed_block(cfg, "extra_grammar", taken)
    section = cfg.get("extra_grammar") or {}
    goals = goal_predicates(section.get("goals"), "extra_grammar.goals")
    data = _cache_path(
        section.get("data"), "extra_grammar.data", run_dir / "episodes_extra_grammar.jsonl"
    )
    if not seeds:
        if goals is not None:
            raise ConfigError("extra_grammar.goals needs extra_grammar.episodes_per_task > 0")
        return None
    ecfg = extra_grammar_config(cfg)
    options = DataOptions.from_config(ecfg)
    options.check_tasks(tasks, key="extra_grammar.goals")
    written = options.tasks_written(tasks)
    if not written:
        raise ConfigError(
            "extra_grammar.episodes_per_task > 0, but the grammar can write for no task of "
            "`tasks`: the run would add nothing"
        )
    return ExtraGrammar(seeds, written, goals, ecfg, data)


def _seeds(cfg: DictConfig) -> tuple[list[int], list[int]]:
    start = whole(cfg.get("seed_start"), "seed_start")
    n = whole(cfg.get("episodes_per_task"), "episodes_per_task")
    if n < 2:
        raise ConfigError(f"episodes_per_task must be at least 2, got {n}")
    check_training_seeds([start, start + n - 1])
    seeds = list(range(start, start + n))
    rng = np.random.default_rng(int(cfg.optim.seed))
    n_val = max(1, int(round(share(cfg.get("validation_share"), "validation_share") * n)))
    if n_val >= n:
        raise ConfigError(
            f"validation_share holds back all {n} seeds of episodes_per_task (at "
            f"{cfg.validation_share}): none is left to train on"
        )
    val = sorted(int(s) for s in rng.choice(seeds, size=n_val, replace=False))
    return [s for s in seeds if s not in val], val


def _batches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + size] for i in range(0, n, size)]


@runtime_checkable
class _DecoderStack(Protocol):
    """What the packed training pass runs by hand: a Llama/Gemma-style decoder."""

    embed_tokens: Any
    layers: Any
    norm: Any
    rotary_emb: Any


@runtime_checkable
class _CausalLM(Protocol):
    """A transformers causal LM: its decoder stack under `model`."""

    model: Any


#: Config fields by which a model's own forward changes its logits after the output projection;
#: the packed training pass applies the projection alone, so it would optimise other numbers than
#: the scorer ranks with (values that change nothing are allowed).
LOGIT_POSTPROCESSING = {"final_logit_softcapping": None, "logit_scale": 1.0, "logits_scaling": 1.0}


def _decoder(model: Any) -> Any:
    """The decoder stack (embeddings, layers, norm, rotary) of a transformers causal LM whose
    packed training pass computes what the scorer computes."""
    name = type(model).__name__
    if not (isinstance(model, _CausalLM) and isinstance(model.model, _DecoderStack)):
        raise ConfigError(f"{name} is not a decoder this trainer knows (Llama/Gemma style)")
    config = model.config
    if (reason := pack_refusal(config)) is not None:
        raise ConfigError(f"cannot train an adapter for {name}: {reason}")
    for field, neutral in LOGIT_POSTPROCESSING.items():
        if getattr(config, field, neutral) not in (None, neutral):
            raise ConfigError(
                f"cannot train an adapter for {name}: its forward post-processes the logits "
                f"({field}={getattr(config, field)}), which the packed training pass does not"
            )
    return model.model


def _run_layers(inner: Any, hidden: Any, layers: range, positions: Any, mask: Any) -> Any:
    """Decoder layers `layers` (indices) over `hidden` with explicit positions and an additive
    4D attention mask (the packed decision's tree mask: option_packing).

    Hybrid decoders (Gemma-3) give each layer a type: its rotary frequencies and, for
    `sliding_attention`, a mask that also hides keys `sliding_window` or more positions back.
    The scorer applies the same rule (`PackedPass.sliding`), so training optimises its numbers."""
    import torch

    config = inner.config
    types = layer_kinds(config)
    typed_rotary = "layer_type" in inspect.signature(inner.rotary_emb.forward).parameters
    embeddings: dict[str, Any] = {}
    masks: dict[str, Any] = {}
    for i in layers:
        kind = types[i]
        if kind not in masks:
            embeddings[kind] = (
                inner.rotary_emb(hidden, positions, kind)
                if typed_rotary
                else inner.rotary_emb(hidden, position_ids=positions)
            )
            masks[kind] = mask
            if kind == "sliding_attention":
                distance = positions[:, None, :, None] - positions[:, None, None, :]
                far = distance >= int(config.sliding_window)
                masks[kind] = mask.masked_fill(far, torch.finfo(mask.dtype).min)
        hidden = inner.layers[i](
            hidden,
            attention_mask=masks[kind],
            position_embeddings=embeddings[kind],
            position_ids=positions,
        )
    return hidden


def _on(device: Any, *tensors: Any) -> tuple[Any, ...]:
    """The packed batch's tensors (built on the CPU) on the model's device."""
    return tuple(t.to(device) for t in tensors)


def _pad_stack(rows: Sequence[Any], width: int) -> Any:
    import torch

    out = torch.zeros(
        (len(rows), width, rows[0].shape[-1]), dtype=rows[0].dtype, device=rows[0].device
    )
    for j, r in enumerate(rows):
        out[j, : r.shape[0]] = r
    return out


def pack_examples(
    tokenizer: Any, examples: Sequence[tuple[str, str, list[str]]]
) -> list[PackedDecision]:
    """Each (prompt, expert call, candidates) as one packed sequence (option_packing)."""
    from saycan.planner.scorers.transformers_scorer import encode_option, encode_prompt

    packed = []
    for prompt, target, candidates in examples:
        options = list(dict.fromkeys([*candidates, target]))  # the expert's call is a candidate
        packed.append(
            pack_decision(
                encode_prompt(tokenizer, prompt),
                [encode_option(tokenizer, o) for o in options],
                options.index(target),
            )
        )
    return packed


def base_identity(model: Any, tokenizer: Any) -> dict[str, str]:
    """The base model by what decides its numbers, not by its name: digests of its weights
    (float32, as trained), of its config (rotary base, windows, norms) and of its tokenizer's
    vocabulary. The config's `_name_or_path` is left out: a GGUF and its dequantised cache are
    the same model under two paths."""
    config = {
        k: v
        for k, v in model.config.to_dict().items()
        if k not in ("_name_or_path", "transformers_version")
    }
    vocab = sorted(tokenizer.get_vocab().items()) if tokenizer is not None else None
    specials = list(tokenizer.all_special_tokens) if tokenizer is not None else None
    return {
        "weights_sha256": weights_fingerprint(model.state_dict()),
        "config_sha256": json_digest(config),
        "tokenizer_sha256": json_digest([vocab, specials]),
    }


def _training_settings(
    cfg: DictConfig, init: InitAdapter | None, base: Mapping[str, str]
) -> dict[str, Any]:
    """What besides the decisions decides the trained numbers (a resumed run must match it):
    the base model by `base_identity`, not only by its name."""
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    # threads and logging change no number; max_examples acts through the decisions themselves
    for key in (
        "threads",
        "log_every",
        "checkpoint_every",
        "stop_after_step",
        "max_examples",
        "save_lower_pass",
    ):
        optim.pop(key, None)
    return {
        "base": [str(cfg.base.model), cfg.base.gguf_file, dict(base)],
        "init": init.record() if init else None,
        "lora": None if init else OmegaConf.to_container(cfg.lora, resolve=True),
        "optim": optim,
    }


def _keeps_lower(cfg: DictConfig) -> bool:
    """`optim.save_lower_pass`, a true or false (a typo must not silently cost an hour)."""
    value = cfg.optim.get("save_lower_pass", False)
    if not isinstance(value, bool):
        raise ConfigError(f"optim.save_lower_pass must be true or false, got {value!r}")
    return value


def _optional_whole(value: Any, key: str) -> int | None:
    return None if value is None else whole(value, key, minimum=1)


def fit_lora(
    model: Any,
    tokenizer: Any,
    examples: Sequence[tuple[str, str, list[str]]],
    cfg: DictConfig,
    log: Any = print,
    init: InitAdapter | None = None,
    state_path: Path | None = None,
    resume: TrainState | None = None,
    digest: str | None = None,
) -> dict[str, Any]:
    """LoRA (peft) on the top `lora.top_layers` decoder layers (or, from `init`, on the layers
    that adapter adapts, starting from its weights). Loss per decision: a softmax over
    the summed log-probs of *every* candidate call (the planner's own argmax, so that is what is
    trained; weight `sequence_loss_weight`) plus the expert call's per-token cross-entropy.
    Each decision is one packed sequence (prompt + candidate trie: option_packing).

    Why only the top layers: on 2 CPU cores a 135M model trains at ~60 tokens/s end to end. With
    the lower layers frozen and adapter-free, their output for each decision is computed once
    (no gradient) and reused every epoch (with `optim.save_lower_pass`, by later sittings too);
    each step then runs only the top layers and the vocabulary projection at the positions
    that predict a candidate token.

    With `state_path`, the loop's state is written there every `optim.checkpoint_every` steps
    and at `optim.stop_after_step` (the result then says `stopped`); `resume`, a state that
    `SavedState.check` found to be this training's (same `digest`), is gone on from."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(int(cfg.optim.seed))
    n_layers = len(_decoder(model).layers)
    device = next(model.parameters()).device  # where the model was loaded: train there
    if digest is None:  # the weights before any adapter wraps them
        digest = training_digest(
            examples, _training_settings(cfg, init, base_identity(model, tokenizer))
        )
    top = min(int(cfg.lora.top_layers), n_layers)
    first = n_layers - top
    if init is not None:  # go on training an existing adapter: its own shape, its weights
        from peft import PeftModel

        log(f"training on from {init.path} (its shape {init.shape}; `lora:` is not used)")
        # lower layers than its first carry no update, so their output is still cached
        first = init.layers[0] if init.layers else 0
        peft_model = PeftModel.from_pretrained(model, str(init.path), is_trainable=True)
    else:
        lora = LoraConfig(
            task_type="CAUSAL_LM",
            r=int(cfg.lora.r),
            lora_alpha=int(cfg.lora.alpha),
            lora_dropout=float(cfg.lora.dropout),
            target_modules=list(cfg.lora.target_modules),
            layers_to_transform=list(range(first, n_layers)),
        )
        peft_model = get_peft_model(model, lora)
    inner = _decoder(peft_model.get_base_model())
    head = peft_model.get_base_model().get_output_embeddings()
    dtype = next(inner.parameters()).dtype
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    packed = pack_examples(tokenizer, examples)

    epochs, batch = int(cfg.optim.epochs), int(cfg.optim.batch)
    per_epoch = math.ceil(len(packed) / batch)
    total = epochs * per_epoch
    # a state at its last step (a finished run run again) has no step left to cache for
    left = resume is None or resume.step < total

    start = time.perf_counter()
    peft_model.eval()
    cached: list[Any] = [None] * len(packed)
    # kept beside the state only when asked: about 1 GB for the shipped recipe
    kept = state_path.with_name(LOWER_PASS_FILE) if state_path and _keeps_lower(cfg) else None
    width = int(inner.config.hidden_size)
    shapes = [(len(d), width) for d in packed]
    read = read_lower_pass(kept, digest, first, shapes, dtype) if kept and left else None
    if read is not None:
        cached = [h.to(device) for h in read]
    order = (
        sorted(range(len(packed)), key=lambda i: len(packed[i])) if left and read is None else []
    )
    with torch.no_grad():
        for k in range(0, len(order), 16):
            idx = order[k : k + 16]
            ids, pos, mask = _on(device, *batch_inputs([packed[i] for i in idx], dtype))
            hidden = _run_layers(inner, inner.embed_tokens(ids), range(first), pos, mask)
            for j, i in enumerate(idx):
                cached[i] = hidden[j, : len(packed[i])].clone()
    if kept and order and (failed := save_lower_pass(kept, digest, first, cached)):
        log(f"could not keep the lower layers' outputs in {kept} ({failed}); training goes on")
        kept = None
    cache_seconds = time.perf_counter() - start
    if read is not None:
        log(
            f"lower {first} layers read from {kept} for {len(packed)} decisions in "
            f"{cache_seconds:.0f} s"
        )
    elif left:
        log(
            f"lower {first} layers cached for {len(packed)} decisions "
            f"({sum(map(len, packed))} packed tokens) in {cache_seconds:.0f} s"
            + (f", kept in {kept}" if kept else "")
        )

    opt = torch.optim.AdamW(
        [p for p in peft_model.parameters() if p.requires_grad],
        lr=float(cfg.optim.lr),
        weight_decay=float(cfg.optim.weight_decay),
    )
    rng = np.random.default_rng(int(cfg.optim.seed))
    seq_weight = float(cfg.optim.sequence_loss_weight)
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * max(0.0, 1 - i / total)
    )
    every = cfg.optim.get("checkpoint_every")
    stop_at = cfg.optim.get("stop_after_step")
    earlier_seconds = resume.seconds if resume else 0.0
    earlier_sittings = list(resume.sittings) if resume else []
    trainable_params = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}
    step, tokens, losses, hits = 0, 0, [], []
    if resume:
        with torch.no_grad():
            for name, value in resume.trainable.items():
                trainable_params[name].copy_(value)
        opt.load_state_dict(resume.optimizer)
        sched.load_state_dict(resume.scheduler)
        torch.set_rng_state(resume.torch_rng)
        if device.type == "cuda" and resume.device_rng is not None:
            torch.cuda.set_rng_state(resume.device_rng, device)
        rng.bit_generator.state = resume.epoch_rng
        step, tokens = resume.step, resume.tokens
        losses, hits = resume.losses, resume.hits
        log(f"resumed at step {step}/{total} from {state_path}")

    first_step = step

    def sittings() -> list[dict[str, Any]]:
        """The sittings so far, this one up to the current step (one that ran none is none)."""
        if resume and step == first_step:
            return earlier_sittings
        return [
            *earlier_sittings,
            {
                "steps": [first_step, step],
                "seconds": round(time.perf_counter() - start, 1),
                "threads": torch.get_num_threads(),
                "device": str(device),
            },
        ]

    def checkpoint(epoch_rng: dict[str, Any]) -> None:
        assert state_path is not None
        save_state(
            state_path,
            digest,
            TrainState(
                step=step,
                epoch_rng=epoch_rng,
                tokens=tokens,
                seconds=earlier_seconds + time.perf_counter() - start,
                losses=losses,
                hits=hits,
                trainable={n: p.detach().to("cpu").clone() for n, p in trainable_params.items()},
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                torch_rng=torch.get_rng_state(),
                device_rng=torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                sittings=sittings(),
            ),
        )

    peft_model.train()
    first_epoch, skip = divmod(step, per_epoch)
    stopped = False
    for epoch in range(first_epoch, epochs):
        epoch_rng = rng.bit_generator.state  # this epoch's batches are drawn from here
        batches = _batches(len(packed), batch, rng)
        for idx in batches[skip:]:
            if stop_at is not None and step >= stop_at:
                stopped = True
                break
            group = [packed[i] for i in idx]
            _, pos, mask = _on(device, *batch_inputs(group, dtype))
            width = pos.shape[1]
            hidden = _run_layers(
                inner,
                _pad_stack([cached[i] for i in idx], width),
                range(first, n_layers),
                pos,
                mask,
            )
            scores = option_logprobs(inner.norm(hidden), head, group)
            token_loss = torch.stack(
                [-s[d.target] / len(d.paths[d.target]) for s, d in zip(scores, group)]
            ).mean()
            seq_loss = torch.stack(
                [-torch.log_softmax(s, dim=0)[d.target] for s, d in zip(scores, group)]
            ).mean()
            loss = token_loss + seq_weight * seq_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            tokens += sum(len(d) for d in group)
            losses.append(float(loss.detach()))
            hits += [int(torch.argmax(s)) == d.target for s, d in zip(scores, group)]
            if step % int(cfg.optim.log_every) == 0 or step == total:
                k = int(cfg.optim.log_every)
                log(
                    f"epoch {epoch} step {step}/{total} loss {np.mean(losses[-k:]):.4f} train acc "
                    f"{np.mean(hits[-k * batch :]):.3f} ({time.perf_counter() - start:.0f} s)"
                )
            if state_path and (step == stop_at or (every and step % every == 0)):
                # after an epoch's last step the next epoch starts from the generator as it is
                checkpoint(epoch_rng if step % per_epoch else rng.bit_generator.state)
        skip = 0
        if stopped:
            break
    if stopped:
        log(
            f"stopped at step {step}/{total}; to go on, run again with the same run directory "
            "and a larger optim.stop_after_step, or none"
        )
    peft_model.eval()
    return {
        "model": peft_model,
        "trainable_params": int(trainable),
        "adapted_layers": [first, n_layers],
        "steps": step,
        "steps_total": total,
        "stopped": stopped,
        "resumed_at_step": resume.step if resume else None,
        "train_tokens": tokens,
        "cache_seconds": round(cache_seconds, 1),
        # every sitting's, the lower layers' pass of each included
        "train_seconds": round(earlier_seconds + time.perf_counter() - start, 1),
        "sittings": sittings(),
        "final_loss": round(float(np.mean(losses[-20:])), 4) if losses else None,
    }


def decision_accuracy(
    scorer: Any,
    episodes: Sequence[dict[str, Any]],
    builder: PromptBuilder,
    limit: int | None = None,
) -> dict[str, Any]:
    """How often the LLM alone (no affordance) ranks the expert's call first among the
    candidates, on held-out decisions."""
    hits = n = 0
    for ep in episodes:
        for d in ep["decisions"]:
            if limit is not None and n >= limit:
                break
            prompt = builder.build(
                ep["instruction"], scene_from_json(d["scene"]), _history(d["history"])
            )
            scores = scorer.score(prompt, d["candidates"])
            hits += int(d["candidates"][int(np.argmax(scores))] == d["target"])
            n += 1
    return {"decisions": n, "accuracy": round(hits / n, 4) if n else None}


def _sort_target_modules(config_file: Path) -> None:
    """peft writes `target_modules` in set order, which changes with the hash seed; sorted, the
    same training run writes the same adapter_config.json."""
    config = json.loads(config_file.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    write_atomic(config_file, json.dumps(config, indent=2, sort_keys=True) + "\n")


def _check_base_model(cfg: DictConfig) -> None:
    """An adapter is trained on one local model: `llm` must name one (`llm.model`), not an
    ensemble or a remote server."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        model = cfg.base.model
    except OmegaConfBaseException:
        model = None
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(
            "saycan train planner trains an adapter for one local model: choose it with "
            "llm=smollm2, llm=gemma3_270m or llm=hf llm.model=... (this llm names no model)"
        )


def train_planner(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    import torch

    from saycan.devices import available_device
    from saycan.planner.scorers.models import load_model
    from saycan.planner.scorers.transformers_scorer import TransformersScorer
    from saycan.sim.tasks.families import expand_tasks
    from saycan.sim.tasks.spec import load_task

    torch.set_num_threads(int(cfg.optim.threads))
    listed = cfg.get("exclude_tasks") or []
    listed = [listed] if isinstance(listed, str) else listed
    if not isinstance(listed, (list, tuple, ListConfig)):
        raise ConfigError(f"exclude_tasks must be a list of task names, got {listed!r}")
    excluded = {str(t) for t in listed}
    by_key: dict[str, str] = {}  # one task file under two paths is one task, trained once
    for t in expand_tasks(cfg.tasks):
        by_key.setdefault(task_key(t), t)
    requested = list(by_key.values())
    # a task is excluded by its argument, its spec's name or (a task file) its file's stem
    names = {t: {t, load_task(t).name, Path(t).stem} for t in requested}
    known = set(expand_tasks("all")).union(*names.values())
    if excluded - known:
        raise ConfigError(
            f"exclude_tasks names tasks that are neither packaged nor in tasks: "
            f"{sorted(excluded - known)}"
        )
    tasks = [t for t in requested if not names[t] & excluded]
    if not tasks:
        raise ConfigError("no task left to train on: exclude_tasks removes every task of tasks")
    unseeable = [t for t in tasks if not load_task(t).instructions.seen]
    if unseeable:  # the independent sets: evaluation text, never training data
        raise ConfigError(
            f"tasks names {len(unseeable)} task(s) without seen instructions, which training "
            f"never reads (e.g. {Path(unseeable[0]).stem!r})"
        )
    _check_base_model(cfg)  # before the data, as the initial adapter below
    device = available_device(str(cfg.base.device), "base.device")  # no GPU: now, not after data
    init = load_init_adapter(cfg)  # before the data: a wrong name fails in a second, not an hour
    # the shares, before the data: a typo fails in a second, not after an hour
    retry_share = share(cfg.get("retry_share"), "retry_share")
    goal_holds_share = share(cfg.get("goal_holds_share"), "goal_holds_share")
    options = DataOptions.from_config(cfg)  # the data's own shares and scene variants
    options.check_tasks(tasks)
    train_seeds, val_seeds = _seeds(cfg)
    disturbed_seeds = _seed_block(cfg, "disturbed", train_seeds + val_seeds)
    extra_plan = extra_grammar_plan(cfg, tasks, train_seeds + val_seeds + disturbed_seeds, run_dir)
    disturbed_data = _cache_path(
        (cfg.get("disturbed") or {}).get("data"),
        "disturbed.data",
        run_dir / "episodes_disturbed.jsonl",
    )
    # before the data: a typo or a damaged state must not wait for it
    _optional_whole(cfg.optim.get("checkpoint_every"), "optim.checkpoint_every")
    _keeps_lower(cfg)
    stop_at = _optional_whole(cfg.optim.get("stop_after_step"), "optim.stop_after_step")
    saved = read_state(run_dir / STATE_FILE)
    if saved and stop_at is not None and stop_at <= saved.state.step:
        raise ConfigError(
            f"optim.stop_after_step={stop_at}, but {saved.path} is at step {saved.state.step} "
            "already: raise it, or leave it out to train to the end"
        )
    max_examples = cfg.optim.get("max_examples")
    if max_examples is not None:  # null: no cap
        max_examples = whole(max_examples, "optim.max_examples", minimum=1)
    data = _cache_path(cfg.get("data"), "data", run_dir / "episodes.jsonl")
    t0 = time.perf_counter()
    episodes = load_or_generate(data, cfg, tasks, train_seeds + val_seeds)
    errors = [e for e in episodes if "error" in e]
    solved = [e for e in episodes if "error" not in e and e["success"]]
    train_eps = [e for e in solved if e["seed"] not in val_seeds]
    val_eps = [e for e in solved if e["seed"] in val_seeds]
    read = list(episodes)  # every episode whose instruction the data holds
    extra: list[dict[str, Any]] = []
    if extra_plan:  # more episodes in the grammar's words, beside the templates, not instead
        extra = load_or_generate(
            extra_plan.data, extra_plan.config, extra_plan.tasks, extra_plan.seeds
        )
        read += extra
        errors += [e for e in extra if "error" in e]
        train_eps += [e for e in extra if "error" not in e and e["success"]]
    data_seconds = time.perf_counter() - t0
    if cfg.pool_output:  # the retrieved-examples prompt's pool: the same training episodes
        write_pool(train_eps, Path(cfg.pool_output))
    rng = np.random.default_rng(int(cfg.optim.seed))
    modes = list(cfg.feedback_modes)
    examples = training_examples(train_eps, cfg.prompt, modes, retry_share, rng)
    already_done: list[tuple[str, str, list[str]]] = []
    if goal_holds_share:  # a generator of its own: the other examples stay what they were
        already_done = goal_holds_examples(
            train_eps,
            cfg.prompt,
            modes,
            goal_holds_share,
            np.random.default_rng([int(cfg.optim.seed), GOAL_HOLDS_STREAM]),
        )
        examples += already_done
    recovery: list[tuple[str, str, list[str]]] = []
    disturbed: list[dict[str, Any]] = []
    if disturbed_seeds:  # closed loop: the expert putting back what a disturbance knocked away
        dcfg = disturbed_data_config(cfg)
        disturbed = load_or_generate(disturbed_data, dcfg, tasks, disturbed_seeds)
        read += disturbed
        errors += [e for e in disturbed if "error" in e]
        recovery = recovery_examples(
            [e for e in disturbed if "error" not in e and e["success"]], cfg.prompt
        )
        examples += recovery
    if max_examples:
        examples = [examples[i] for i in rng.permutation(len(examples))[:max_examples]]
    if not examples:
        raise ConfigError("no training decisions: every expert episode failed or errored")
    print(
        f"{len(episodes) + len(extra)} expert episodes ({len(extra)} of them extra in the "
        f"grammar's words; {len(train_eps) + len(val_eps)} solved) and {len(disturbed)} "
        f"disturbed, {len(errors)} errors in all, in "
        f"{data_seconds:.0f} s; {len(examples)} training decisions ({len(recovery)} after a "
        f"disturbance, {len(already_done)} with the goal already met)",
        flush=True,
    )

    loaded = load_model(str(cfg.base.model), cfg.base.gguf_file, None, "float32", str(device))
    device = next(loaded.model.parameters()).device  # as placed: "cuda" is "cuda:0"
    base = base_identity(loaded.model, loaded.tokenizer)
    # before the lower layers' pass: a state of other training is refused now
    digest = training_digest(examples, _training_settings(cfg, init, base))
    resume = saved.check(digest) if saved else None
    fit = fit_lora(
        loaded.model,
        loaded.tokenizer,
        examples,
        cfg,
        init=init,
        state_path=run_dir / STATE_FILE,
        resume=resume,
        digest=digest,
    )
    if fit["stopped"]:  # no adapter yet: the state is in the run directory
        return {
            "stopped": True,
            "steps": fit["steps"],
            "steps_total": fit["steps_total"],
            "resumed_at_step": fit["resumed_at_step"],
            "train_state": str(run_dir / STATE_FILE),
            "resume": f"hydra.run.dir={run_dir} with a larger optim.stop_after_step, or none",
            "training_decisions": len(examples),
            "train_seconds": fit["train_seconds"],
            "torch_threads": int(cfg.optim.threads),
            "device": str(device),
            "sittings": len(fit["sittings"]),
        }
    out = Path(cfg.output) if cfg.output else run_dir / "adapter"
    out.mkdir(parents=True, exist_ok=True)
    fit.pop("model").save_pretrained(str(out), safe_serialization=True)
    drop_lower_pass(run_dir / LOWER_PASS_FILE)
    # the trained model is written: free it before validation loads the merged one (on a GPU
    # two float32 copies of a large model may not fit)
    del loaded
    gc.collect()  # peft's wrappers hold cycles
    if device.type == "cuda":
        torch.cuda.empty_cache()
    (out / "README.md").unlink(
        missing_ok=True
    )  # peft's model-card template: saycan_adapter.json says what this is
    _sort_target_modules(out / "adapter_config.json")
    inherited = list(init.instructions or ()) if init else []
    write_instructions(read + [{"instruction": t} for t in inherited], out / INSTRUCTIONS_FILE)
    meta = {
        "base": {
            "model": str(cfg.base.model),
            "gguf_file": cfg.base.gguf_file,
            # what it computed with, beyond its name (base_identity)
            **base,
        },
        "prompt": OmegaConf.to_container(cfg.prompt, resolve=True),
        "feedback_modes": modes,
        "retry_share": retry_share,
        "goal_holds_share": goal_holds_share,
        "goal_holds_examples": len(already_done),
        "disturbed": {
            "seeds": [min(disturbed_seeds), max(disturbed_seeds)] if disturbed_seeds else None,
            "disturbance": OmegaConf.to_container(cfg.disturbed.disturbance, resolve=True)
            if disturbed_seeds
            else None,
            "examples": len(recovery),
        },
        "training_seeds": [PLANNER_TRAINING.start, PLANNER_TRAINING.stop],
        "seeds_used": [min(train_seeds), max(train_seeds)],
        "validation_seeds": val_seeds,
        "templates": "seen",
        # shares of episodes with the training grammar's instructions and with scene variants
        "grammar_share": float((cfg.get("instructions") or {}).get("grammar_share", 0.0)),
        "grammar_goals": sorted(options.grammar_goals) if options.grammar_goals else None,
        "situation_share": float((cfg.get("situations") or {}).get("share", 0.0)),
        "extra_grammar": {
            "seeds": [min(extra_plan.seeds), max(extra_plan.seeds)],
            "goals": sorted(extra_plan.goals) if extra_plan.goals else None,
            "tasks": extra_plan.tasks,
            # solved, and among them those the grammar could word (the rest: the template)
            "episodes": sum(1 for e in extra if "error" not in e and e["success"]),
            "grammar_written": sum(
                1
                for e in extra
                if "error" not in e and e["success"] and e["instruction_source"] == "grammar"
            ),
        }
        if extra_plan
        else None,
        "held_out_colours": list(HELD_OUT_COLOURS),
        "tasks": tasks,
        "episodes": len(train_eps),
        "examples": len(examples),
        # the weights training started from, with their own record (their data is in these
        # weights too); `lora` is then their shape, not the `lora:` config
        "init": init.record() if init else None,
        "lora": init.shape if init else OmegaConf.to_container(cfg.lora, resolve=True),
        "optim": OmegaConf.to_container(cfg.optim, resolve=True),
        "trainable_params": fit["trainable_params"],
        "train_seconds": fit["train_seconds"],
        "torch_threads": int(cfg.optim.threads),
        "device": str(device),
        "sittings": fit["sittings"],  # each stretch of steps: its seconds, threads and device
    }
    write_atomic(out / META_FILE, json.dumps(meta, indent=2) + "\n")

    builder = instantiate(OmegaConf.merge(cfg.prompt, {"feedback": modes[0]}))
    limit = int(cfg.validation_limit) if cfg.validation_limit else None
    scorer = TransformersScorer(
        model=str(cfg.base.model),
        gguf_file=cfg.base.gguf_file,
        adapter=str(out),
        device=str(device),
    )
    val = decision_accuracy(scorer, val_eps, builder, limit)
    adapter_bytes = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    return {
        "tasks": len(tasks),
        "episodes": len(episodes) + len(extra),
        "disturbed_episodes": len(disturbed),
        "expert_errors": len(errors),  # of every kind of episode above
        "training_decisions": len(examples),
        "recovery_decisions": len(recovery),
        "goal_holds_decisions": len(already_done),
        "validation_decisions": val["decisions"],
        "validation_accuracy_llm_only": val["accuracy"],
        "trainable_params": fit["trainable_params"],
        "train_tokens": fit["train_tokens"],
        "train_seconds": fit["train_seconds"],
        "steps": fit["steps"],
        "resumed_at_step": fit["resumed_at_step"],
        "adapted_layers": fit["adapted_layers"],
        "data_seconds": round(data_seconds, 1),
        "final_loss": fit["final_loss"],
        "adapter_bytes": adapter_bytes,
        "output": str(out),
        "torch_threads": int(cfg.optim.threads),
        "device": str(device),
        "sittings": len(fit["sittings"]),
    }
