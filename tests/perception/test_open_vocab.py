"""perception=open_vocab: the real transformers loading and detection path.

OWL-ViT weights cannot be downloaded here, so these tests save a *tiny randomly initialised*
OwlViT model (and a byte-level CLIP tokenizer with no merges) to a temporary directory and load
it through the backend's own loader: detections are checked for being well-formed, not correct.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers.pre_tokenizers import ByteLevel
from transformers import (
    CLIPTokenizer,
    OwlViTConfig,
    OwlViTForObjectDetection,
    OwlViTImageProcessor,
    OwlViTProcessor,
)

from saycan.errors import ConfigError, ModelLoadError
from saycan.perception.open_vocab import OpenVocabPerception
from saycan.perception.scene import SceneDescription
from saycan.sim.env import TabletopEnv
from saycan.sim.scene_spec import ObjectSpec


@pytest.fixture(scope="module")
def tiny_owlvit(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny_owlvit")
    chars = sorted(ByteLevel.alphabet())  # byte-level characters: every text is encodable
    vocab = {
        t: i
        for i, t in enumerate(
            chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
        )
    }
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    image_processor = OwlViTImageProcessor(
        size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32}
    )
    OwlViTProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    torch.manual_seed(0)
    config = OwlViTConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        projection_dim=16,
    )
    OwlViTForObjectDetection(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def observation():
    env = TabletopEnv(camera_width=160, camera_height=120)
    try:
        env.reset(
            seed=0,
            options={
                "objects": [
                    ObjectSpec("red block", "block", "red", (0.45, 0.1)),
                    ObjectSpec("blue bowl", "bowl", "blue", (0.55, -0.1)),
                ]
            },
        )
        yield env.observation()
    finally:
        env.close()


def test_tiny_random_owlvit_returns_well_formed_scene(tiny_owlvit, observation):
    perception = OpenVocabPerception(model=tiny_owlvit, local_files_only=True, score_threshold=0.0)
    obs = observation
    obs.ground_truth = None  # a camera backend must not need ground truth
    scene = perception.perceive(obs)
    assert isinstance(scene, SceneDescription)
    assert scene.objects, "threshold 0 keeps every box: at least one detection"
    names = [o.name for o in scene.objects]
    assert len(names) == len(set(names))
    for o in scene.objects:
        assert o.name in perception.queries and o.name == f"{o.colour} {o.category}"
        assert len(o.position) == 3 and all(np.isfinite(o.position))
        assert 0.0 <= o.confidence <= 1.0
    assert scene.to_text("saycan").startswith("objects = [")


def test_vocabulary_is_configurable(tiny_owlvit):
    perception = OpenVocabPerception(model=tiny_owlvit, vocabulary=["red block", "green bowl"])
    assert perception.queries == ["red block", "green bowl"]
    with pytest.raises(ConfigError):
        OpenVocabPerception(model=tiny_owlvit, vocabulary=["a red thing"])


def test_absent_weights_give_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        OpenVocabPerception(model=str(tmp_path / "nothing_here"), local_files_only=True)
    with pytest.raises(ModelLoadError):
        OpenVocabPerception(model="google/owlvit-base-patch32", local_files_only=True)


def test_a_device_the_machine_lacks_is_a_config_error_naming_the_key(tiny_owlvit):
    with pytest.raises(ConfigError, match=r"perception.device='cuda:99' is not available"):
        OpenVocabPerception(model=tiny_owlvit, device="cuda:99")
    assert OpenVocabPerception(model=tiny_owlvit, device="cpu").device.type == "cpu"
