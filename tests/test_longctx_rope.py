"""``apply_rope``: a phase's RoPE block applied to a transformers model equals building it so."""

from __future__ import annotations

import pytest
import torch

from midtrain.errors import ConfigError
from midtrain.loaders.rope import apply_rope, rope_parameters

transformers = pytest.importorskip("transformers")


def tiny(**rope):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=97, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=4096,
                         **({"rope_parameters": rope} if rope else {}))
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def test_theta_and_yarn_match_a_model_built_with_them():
    ids = torch.randint(0, 97, (2, 48))
    for block, params in (({"theta": 5e5}, {"rope_type": "default", "rope_theta": 5e5}),
                          ({"theta": 1e6, "yarn": {"factor": 4, "original_max_position": 1024}},
                           {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0,
                            "original_max_position_embeddings": 1024})):
        model = tiny()
        before = model(ids).logits
        assert apply_rope(model, block) == rope_parameters(model.config.rope_parameters, {}) == {**params}
        reference = tiny(**params)
        reference.load_state_dict(model.state_dict())
        after = model(ids).logits
        assert torch.equal(after, reference(ids).logits)
        assert not torch.equal(after, before)
    assert apply_rope(tiny(), None) is None


def test_a_model_without_rope_is_refused():
    class NoRope(torch.nn.Module):
        config = type("Config", (), {"model_type": "gpt2"})()

    with pytest.raises(ConfigError, match="model type 'gpt2' has no rope_parameters"):
        apply_rope(NoRope(), {"theta": 5e5})
