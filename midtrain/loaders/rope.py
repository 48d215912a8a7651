"""Applying a schedule phase's ``rope`` block (``batch["rope"]``) to a Hugging Face model.

midtrain carries the block with every batch of the phase and never touches a model; a trainer
that wants the new base or YaRN scaling from the phase boundary calls :func:`apply_rope` when the
block it sees changes. It rewrites ``config.rope_parameters`` (transformers 5.x) and recomputes the
inverse frequencies of every rotary-embedding module in place, so no weight changes and the
optimizer state stays valid. A model whose config has no ``rope_parameters`` (no RoPE, or an older
transformers), or whose transformers lacks YaRN, gets a :class:`~midtrain.errors.ConfigError`
naming the model type: the phase's positions would otherwise silently stay as they were.
"""

from __future__ import annotations

from typing import Any

from midtrain.errors import ConfigError


def rope_parameters(current: dict[str, Any], rope: dict[str, Any]) -> dict[str, Any]:
    """``current`` (a ``config.rope_parameters`` dict) with a phase's ``rope`` block applied:
    ``theta`` sets ``rope_theta``; ``yarn`` sets ``rope_type: yarn`` with its ``factor`` and
    ``original_max_position_embeddings``."""
    out = dict(current)
    if "theta" in rope:
        out["rope_theta"] = float(rope["theta"])
    if "yarn" in rope:
        out.update(rope_type="yarn", factor=float(rope["yarn"]["factor"]),
                   original_max_position_embeddings=int(rope["yarn"]["original_max_position"]))
    return out


def apply_rope(model: Any, rope: dict[str, Any] | None) -> dict[str, Any] | None:
    """Give ``model`` (a transformers model, possibly wrapped by DDP or ``torch.compile``) the RoPE
    settings ``rope``; returns the new ``rope_parameters`` (``None`` for ``rope=None``: nothing
    changes). Every rank must call it at the same step."""
    if rope is None:
        return None
    inner = model
    for attr in ("module", "_orig_mod"):
        while hasattr(inner, attr):
            inner = getattr(inner, attr)
    config = getattr(inner, "config", None)
    current = getattr(config, "rope_parameters", None)
    kind = getattr(config, "model_type", type(inner).__name__)
    if not isinstance(current, dict) or "rope_theta" not in current:
        raise ConfigError(f"rope: model type {kind!r} has no rope_parameters with a rope_theta; it cannot take "
                          f"{rope} (use a RoPE model with transformers >= 5)")
    new = rope_parameters(current, rope)
    if new.get("rope_type", "default") != "default":
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        if new["rope_type"] not in ROPE_INIT_FUNCTIONS:
            raise ConfigError(f"rope.yarn: this transformers has no {new['rope_type']!r} RoPE for model type {kind!r}")
    config.rope_parameters = new
    rotary = [m for m in inner.modules() if hasattr(m, "inv_freq") and hasattr(m, "rope_type")]
    if not rotary:
        raise ConfigError(f"rope: model type {kind!r} has no rotary-embedding module to update")
    for module in rotary:
        fresh = type(module)(config)
        device = module.inv_freq.device
        module.rope_type = fresh.rope_type
        module.attention_scaling = fresh.attention_scaling
        module.inv_freq = fresh.inv_freq.to(device)
        module.original_inv_freq = fresh.original_inv_freq.to(device)
        if hasattr(fresh, "rope_init_fn"):
            module.rope_init_fn = fresh.rope_init_fn
    return new
