"""`saycan train planner`: refuses evaluation seeds, and (slow) trains a tiny adapter end to end
on real expert episodes that the scorer then loads."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saycan.planner.scorers.adapters import resolve_adapter
from saycan.seeds import PLANNER_TRAINING
from saycan.sim.tasks.families import undo_tasks
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall
from saycan.train.planner import INSTRUCTIONS_FILE, parse_call

from .tiny_decoders import TINY_DECODER


def _train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "train",
            "planner",
            f"hydra.run.dir={tmp_path / 'run'}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )


def _refused(tmp_path: Path, saycan_in_process, *overrides: str) -> str:
    """`saycan train planner` in this process (the evaluation-seed case covers the process
    boundary): it must exit non-zero with one readable line. Returns stderr."""
    code, err = saycan_in_process(
        "train", "planner", f"hydra.run.dir={tmp_path / 'run'}", *overrides
    )
    assert code not in (0, None), err
    assert "saycan: error:" in err and "Traceback" not in err
    return err


def test_training_on_evaluation_seeds_is_refused(tmp_path: Path):
    proc = _train(tmp_path, "seed_start=100000")
    assert proc.returncode != 0
    assert "saycan: error:" in proc.stderr and "outside the training range" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_excluded_task_is_refused(tmp_path: Path, saycan_in_process):
    assert "out_of_reach_blok" in _refused(
        tmp_path, saycan_in_process, "exclude_tasks=[out_of_reach_blok]"
    )


def test_rendered_calls_parse_back_for_the_trainers_own_data():
    for call in (
        DONE,
        SkillCall("pick_and_place", ("red block", "top left corner")),
        SkillCall("push", ("red block", "left")),
    ):
        assert parse_call(call.to_text()) == call
    with pytest.raises(ValueError):
        parse_call("import os")


@pytest.mark.slow
def test_a_tiny_adapter_trains_and_loads(tmp_path: Path):
    out = tmp_path / "adapter"
    proc = _train(
        tmp_path,
        "tasks=[put_block_in_bowl]",
        "episodes_per_task=3",
        "optim.epochs=1",
        "lora.top_layers=1",
        "validation_limit=2",
        f"output={out}",
        f"pool_output={tmp_path / 'pool.jsonl.gz'}",
        # and two episodes with the placed block knocked away once: the expert's retry and `done`
        "disturbed.episodes_per_task=2",
        "disturbed.disturbance.probability=1.0",
        "disturbed.disturbance.max_per_episode=1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 3 and result["expert_errors"] == 0
    assert (
        result["training_decisions"] >= 8
    )  # two episodes x (pick_and_place, done), plus retries, plus recoveries
    assert result["recovery_decisions"] == 4  # two disturbed episodes x (retry, done)
    assert result["disturbed_episodes"] == 2
    assert result["adapted_layers"] == [29, 30] and result["validation_decisions"] == 2
    assert not (out / "README.md").exists()  # no model-card template in the shipped package
    modules = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    assert modules == sorted(modules)  # the same run writes the same file, whatever the hash seed
    adapter = resolve_adapter(out)
    assert adapter.training_seeds == PLANNER_TRAINING
    assert all(
        s in PLANNER_TRAINING
        for s in [*adapter.meta["seeds_used"], *adapter.meta["validation_seeds"]]
    )
    assert np.isfinite(result["final_loss"])
    # the instructions the data held ship beside the adapter (the decontamination test reads them)
    with gzip.open(out / INSTRUCTIONS_FILE, "rt") as fh:
        instructions = json.load(fh)
    assert instructions == sorted(set(instructions)) and len(instructions) >= 1
    assert all(isinstance(text, str) and text.strip() for text in instructions)

    # training goes on from that adapter: its shape and weights, other data, both instructions
    more, second_dir = tmp_path / "more", tmp_path / "second"
    second_dir.mkdir()
    proc = _train(
        second_dir,
        "tasks=[put_block_on_block]",
        "episodes_per_task=3",
        "optim.epochs=1",
        "lora.top_layers=1",  # the initial adapter's own; another value is refused
        "validation_limit=2",
        "disturbed.episodes_per_task=0",
        f"init_adapter={out}",
        f"output={more}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = json.loads(proc.stdout.strip().splitlines()[-1])
    assert second["adapted_layers"] == [29, 30]
    continued = resolve_adapter(more)
    assert continued.meta["init"]["identity"] == adapter.identity
    assert continued.meta["init"]["meta"]["tasks"] == ["put_block_in_bowl"]  # its data, kept
    assert continued.meta["lora"]["layers"] == [29]
    assert continued.digest != adapter.digest
    with gzip.open(more / INSTRUCTIONS_FILE, "rt") as fh:
        assert set(instructions) < set(json.load(fh))


def test_disturbed_episodes_overlapping_the_plain_seeds_are_refused(
    tmp_path: Path, saycan_in_process
):
    err = _refused(
        tmp_path,
        saycan_in_process,
        "disturbed.episodes_per_task=2",
        f"disturbed.seed_start={PLANNER_TRAINING.start + 1}",
    )
    assert "disturbed.seed_start=600001 overlaps the seeds of other episodes" in err


def test_an_unknown_initial_adapter_is_refused_before_any_data(tmp_path: Path, saycan_in_process):
    err = _refused(tmp_path, saycan_in_process, "init_adapter=no_such_adapter")
    assert "saycan: error: init_adapter:" in err and "no_such_adapter" in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


def test_an_initial_adapter_trained_for_another_prompt_is_refused(
    tmp_path: Path, saycan_in_process
):
    # the packaged adapter was trained for the `code_rich` prompt
    err = _refused(
        tmp_path, saycan_in_process, "init_adapter=smollm2_planner", "prompt=code_fewshot"
    )
    assert "was trained for another prompt" in err and "scene_format" in err


def _damaged_copy(tmp_path: Path, damage: str) -> Path:
    """The packaged adapter's files, copied and damaged one way."""
    import shutil

    src = resolve_adapter("smollm2_planner").path
    out = tmp_path / f"adapter {damage}"  # a space in the path too
    shutil.copytree(src, out)
    meta = json.loads((out / "saycan_adapter.json").read_text())
    if damage == "config":
        (out / "adapter_config.json").write_text("{oops")
    elif damage == "meta_list":
        (out / "saycan_adapter.json").write_text("[]")
    elif damage == "no_prompt":
        del meta["prompt"]
        (out / "saycan_adapter.json").write_text(json.dumps(meta))
    elif damage == "eval_seeds":
        meta["training_seeds"] = [100000, 100100]
        (out / "saycan_adapter.json").write_text(json.dumps(meta))
    elif damage == "instructions":
        (out / INSTRUCTIONS_FILE).write_bytes(b"not gzip")
    elif damage == "layers":
        config = json.loads((out / "adapter_config.json").read_text())
        config["layers_to_transform"] = "top"
        (out / "adapter_config.json").write_text(json.dumps(config))
    return out


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("config", "unreadable (JSONDecodeError"),
        ("meta_list", "saycan_adapter.json is missing or not an object"),
        ("no_prompt", "records no prompt"),
        ("eval_seeds", "not inside the training range"),
        ("instructions", "unreadable"),
        ("layers", "layers_to_transform is 'top'"),
    ],
)
def test_a_damaged_initial_adapter_is_one_config_error_before_any_data(
    tmp_path: Path, damage: str, says: str
):
    from hydra import compose, initialize_config_module

    from saycan.errors import ConfigError
    from saycan.train.planner import load_init_adapter

    path = _damaged_copy(tmp_path, damage)
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("train_planner", overrides=[f"init_adapter='{path}'"])
    with pytest.raises(ConfigError, match=re.escape(says)) as err:
        load_init_adapter(cfg)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_packaged_adapter_is_a_valid_start_whatever_feedback_the_prompt_says():
    from hydra import compose, initialize_config_module

    from saycan.train.planner import load_init_adapter

    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "train_planner", overrides=["init_adapter=smollm2_planner", "prompt.feedback=success"]
        )
    init = load_init_adapter(cfg)
    assert init is not None and init.layers == tuple(range(22, 30))
    assert init.instructions is None  # it predates the instructions file: recorded as unknown
    assert init.record()["meta"]["training_seeds"] == [
        PLANNER_TRAINING.start,
        PLANNER_TRAINING.stop,
    ]


def test_a_lora_shape_the_initial_adapter_does_not_have_is_refused():
    from hydra import compose, initialize_config_module

    from saycan.errors import ConfigError
    from saycan.train.planner import load_init_adapter

    def cfg(*overrides: str):
        with initialize_config_module("saycan.configs", version_base="1.3"):
            return compose("train_planner", overrides=["init_adapter=smollm2_planner", *overrides])

    # the packaged `lora:` untouched, or set to the adapter's own values: its shape is used
    for same in (
        (),
        (
            "lora.r=16",
            "lora.top_layers=8",
            "lora.target_modules=[v_proj,q_proj,k_proj,o_proj,gate_proj,up_proj,down_proj]",
        ),
    ):
        assert load_init_adapter(cfg(*same)) is not None
    with pytest.raises(ConfigError, match=re.escape("lora.r=8 (the adapter's: 16)")) as err:
        load_init_adapter(cfg("lora.r=8", "lora.top_layers=4"))
    assert "lora.top_layers=4 (the adapter's: 8)" in str(err.value)
    assert "\n" not in str(err.value) and "without init_adapter" in str(err.value)


def test_training_on_the_independent_sets_is_refused(tmp_path: Path, saycan_in_process):
    err = _refused(tmp_path, saycan_in_process, "tasks=[put_block_in_bowl,independent_dev]")
    assert "without seen instructions" in err


@pytest.mark.parametrize(
    "model, reason",
    [
        ("gemma2", r"post-processes the logits \(final_logit_softcapping=30.0\)"),
        ("chunked", r"layer types \['chunked_attention'\] take no tree mask"),
    ],
)
def test_a_model_the_packed_pass_would_misjudge_is_refused(model: str, reason: str):
    """The training pass projects hidden states to logits itself and masks by layer type; a
    model whose forward does more (Gemma-2's soft-capping) or attends otherwise would train on
    other numbers than the planner ranks with. Tiny random models (no such weights offline)."""
    from omegaconf import OmegaConf
    from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM

    from saycan.errors import ConfigError
    from saycan.train.planner import fit_lora

    tiny = dict(TINY_DECODER, num_hidden_layers=2)
    if model == "gemma2":
        lm = Gemma2ForCausalLM(Gemma2Config(**tiny, final_logit_softcapping=30.0))
    else:
        lm = LlamaForCausalLM(LlamaConfig(**tiny))
        lm.config.layer_types = ["chunked_attention", "full_attention"]
    cfg = OmegaConf.create({"optim": {"seed": 0}, "lora": {"top_layers": 1}})
    with pytest.raises(ConfigError, match=reason):
        fit_lora(lm, None, [], cfg)


SHARE = "must be a number in [0, 1]"


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("goal_holds_share", "1.5", SHARE),
        ("goal_holds_share", "abc", SHARE),
        ("goal_holds_share", "true", SHARE),
        ("goal_holds_share", "[0.5]", SHARE),
        ("retry_share", "abc", SHARE),
        ("instructions.grammar_share", "-0.1", SHARE),
        ("situations.share", "yes", SHARE),
        ("instructions.grammar_goals", "[towr]", "unknown goal predicate 'towr'; known: in, on"),
        ("instructions.grammar_goals", "tower", "must be a list of goal predicates"),
        ("instructions.grammar_goals", "[]", "is empty"),
        ("instructions", "abc", "must be a mapping of its options, got 'abc'"),
        ("extra_grammar", "abc", "must be a mapping of its options, got 'abc'"),
        ("extra_grammar.episodes_per_task", "2.5", "must be a whole number >= 0, got 2.5"),
        ("disturbed.episodes_per_task", "abc", "must be a whole number >= 0, got 'abc'"),
        ("disturbed.seed_start", "true", "must be a whole number >= 0, got True"),
        ("episodes_per_task", "abc", "must be a whole number >= 0, got 'abc'"),
        ("validation_share", "1.0", "holds back all 30 seeds"),
        ("optim.max_examples", "0", "must be a whole number >= 1, got 0"),
    ],
)
def test_a_data_option_out_of_its_range_is_refused_before_any_data(
    key: str, value: str, reason: str, tmp_path: Path, saycan_in_process
):
    err = _refused(tmp_path, saycan_in_process, f"{key}={value}")
    assert f"{key} {reason}" in err or f"{key}: {reason}" in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


def test_grammar_goals_that_would_change_nothing_are_refused_before_any_data(
    tmp_path: Path, saycan_in_process
):
    err = _refused(tmp_path, saycan_in_process, "instructions.grammar_goals=[tower]")
    assert "instructions.grammar_goals needs instructions.grammar_share > 0" in err
    # no default training task has a line goal: the data would be the templates
    err = _refused(
        tmp_path,
        saycan_in_process,
        "instructions.grammar_share=0.5",
        "instructions.grammar_goals=[line]",
    )
    assert "instructions.grammar_goals ['line']: no task of `tasks` has such a goal" in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


def test_extra_grammar_options_that_cannot_apply_are_refused_before_any_data(
    tmp_path: Path, saycan_in_process
):
    extra = "extra_grammar.episodes_per_task=2"
    err = _refused(tmp_path, saycan_in_process, extra, "extra_grammar.goals=[towr]")
    assert "extra_grammar.goals: unknown goal predicate 'towr'" in err
    err = _refused(tmp_path, saycan_in_process, extra, "extra_grammar.goals=[line]")
    assert "extra_grammar.goals ['line']: no task of `tasks` has such a goal" in err
    # the undisturbed episodes' seeds are 600000..600029: the extra ones need their own
    err = _refused(tmp_path, saycan_in_process, extra, "extra_grammar.seed_start=600010")
    assert "extra_grammar.seed_start=600010 overlaps the seeds of other episodes" in err
    err = _refused(tmp_path, saycan_in_process, extra, "extra_grammar.seed_start=100000")
    assert "outside the training range" in err
    err = _refused(tmp_path, saycan_in_process, extra, "extra_grammar.episodes_per_task=10**10")
    assert "extra_grammar.episodes_per_task must be a whole number" in err
    err = _refused(tmp_path, saycan_in_process, "extra_grammar.episodes_per_task=10000000000")
    assert "outside the training range" in err  # refused before ten billion seeds are listed
    # options that would add nothing
    err = _refused(tmp_path, saycan_in_process, "extra_grammar.goals=[tower]")
    assert "extra_grammar.goals needs extra_grammar.episodes_per_task > 0" in err
    err = _refused(tmp_path, saycan_in_process, extra, "tasks=[infeasible]")
    assert "the grammar can write for no task of `tasks`" in err
    # a cache that could not be written, found before the data rather than after it
    err = _refused(tmp_path, saycan_in_process, extra, f"extra_grammar.data={tmp_path}")
    assert "extra_grammar.data" in err and "is a directory" in err
    err = _refused(tmp_path, saycan_in_process, "disturbed.data=5")
    assert "disturbed.data must be the path of a JSONL file or null, got 5" in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


def test_extra_grammar_episodes_train_beside_the_templates(tmp_path: Path):
    """The grammar's episodes are added for the selected goals only, from their own seeds, and
    the template episodes stay as they were (the real model; one step of training)."""
    out = tmp_path / "adapter"
    proc = _train(
        tmp_path,
        "tasks=[stack_blocks,put_block_in_bowl]",
        "episodes_per_task=2",
        "optim.epochs=1",
        "optim.max_examples=4",
        "lora.top_layers=1",
        "validation_limit=1",
        "disturbed.episodes_per_task=0",
        "extra_grammar.episodes_per_task=2",
        "extra_grammar.goals=[tower]",
        f"output={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 * 2 + 2  # two seeds of each task, and two extra towers
    meta = resolve_adapter(out).meta
    assert meta["episodes"] == 2 + 2  # one seed of each task is for validation
    assert meta["extra_grammar"] == {
        "seeds": [607000, 607001],
        "goals": ["tower"],
        "tasks": ["stack_blocks"],
        "episodes": 2,
        "grammar_written": 2,
    }
    plain = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").open()]
    assert {r["task"] for r in plain} == {"stack_blocks", "put_block_in_bowl"}
    assert all("instruction_source" not in r for r in plain)  # the plain data, unchanged
    extra_file = tmp_path / "run" / "episodes_extra_grammar.jsonl"
    extra = [json.loads(line) for line in extra_file.open()]
    assert [(r["task"], r["seed"]) for r in extra] == [
        ("stack_blocks", 607000),
        ("stack_blocks", 607001),
    ]
    assert all(r["instruction_source"] == "grammar" and r["success"] for r in extra)
    with gzip.open(out / INSTRUCTIONS_FILE, "rt") as fh:
        instructions = set(json.load(fh))
    assert {r["instruction"] for r in extra + plain} <= instructions


def test_exclude_tasks_names_a_task_file_by_its_spec_or_stem_and_refuses_an_unknown_one(
    tmp_path: Path, saycan_in_process
):
    every_undo_task = (
        "exclude_tasks=[block_off_block,block_out_of_bowl,clear_out_bowl,unstack_pair]"
    )
    err = _refused(tmp_path, saycan_in_process, "tasks=[undo]", every_undo_task)
    assert "no task left to train on" in err
    mine = tmp_path / "mystem.yaml"  # its spec is named block_off_block
    mine.write_text(Path(undo_tasks()[0]).read_text())
    err = _refused(tmp_path, saycan_in_process, f"tasks=[{mine}]", "exclude_tasks=mystem")
    assert "no task left to train on" in err
    err = _refused(tmp_path, saycan_in_process, "exclude_tasks=[no_such_task]")
    assert "neither packaged nor in tasks: ['no_such_task']" in err
    err = _refused(tmp_path, saycan_in_process, "exclude_tasks=5")
    assert "exclude_tasks must be a list of task names, got 5" in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


@pytest.mark.parametrize(
    "device, reason",
    [
        # an index no machine has: refused on a GPU machine as on this one
        ("cuda:99", "base.device='cuda:99' is not available on this machine"),
        ("banana", "base.device='banana' is not a device"),
        ("hpu", "base.device='hpu' is not available on this machine"),  # fails as an import
        ("meta", "base.device=meta holds no numbers"),
    ],
)
def test_a_training_device_the_machine_lacks_is_refused_before_any_data(
    tmp_path: Path, saycan_in_process, device: str, reason: str
):
    """Training runs where `llm.device` says; a device that is not there must fail in a second,
    not when the model is moved after an hour of expert data."""
    err = _refused(tmp_path, saycan_in_process, f"llm.device={device}")
    assert reason in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()
