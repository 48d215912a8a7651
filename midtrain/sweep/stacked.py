"""M small Llama decoders in one module: every weight has a leading model dimension.

A swarm of proxy runs is many small models that each keep a small batch; one of them alone leaves a
GPU mostly idle (0.58M tokens/s for a 14M model on an H200), while the same models stacked, their
matmuls batched with ``torch.bmm`` and attention run over all M·B sequences at once, reach 2.5M
tokens/s (measured on an H200 before this module; ``benchmarks/gpu/README.md`` has this module's own figures). Member ``m`` of a :class:`StackedLlama` is
exactly a Llama (RMSNorm, RoPE, SwiGLU, tied embeddings, no biases): :meth:`StackedLlama.llama_state_dict`
exports it under transformers' ``LlamaForCausalLM`` names (``rms_norm_eps=1e-6``,
``tie_word_embeddings=True``).

Independence of the members, which the tests check against M separate models:

- the forward pass never mixes slices: each member reads its own rows of the batch ``[M, B, T]``;
- :meth:`StackedLlama.forward` returns each member's summed loss and token count, and the trainer
  backpropagates the sum of the members' mean losses, so each slice of a gradient is its member's;
- :func:`clip_grad_norm_per_model` takes one norm per member over its slices only;
- AdamW is elementwise (moments, bias correction, and decoupled weight decay ``p -= lr·wd·p``), so
  one optimizer over the stacked tensors is M optimizers, one per member, as long as every member has
  the same learning rate, which it has: a group shares its step count and LR schedule.

Packed rows keep their documents apart: attention is causal *and* block-diagonal by the batch's
``document_ids`` (``position_ids`` alone do not isolate documents in transformers' attention, seen on an H100). On CPU (and
with ``attention="sdpa"``) that is a boolean mask for ``scaled_dot_product_attention``; with
``attention="flex"`` (CUDA) a FlexAttention ``BlockMask`` that skips the blocks no query may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from midtrain.errors import ConfigError

Attention = Literal["sdpa", "flex"]
VOCAB_MULTIPLE = 64
"""Embedding rows are padded to a multiple of this (tensor-core friendly; ids beyond the tokenizer's are
never seen, so their rows only decay)."""


@dataclass(frozen=True, kw_only=True)
class ProxyShape:
    """The shape of one proxy model (every member of a stack has the same)."""

    vocab: int
    """Embedding rows (the tokenizer's vocabulary, padded to :data:`VOCAB_MULTIPLE` by :meth:`for_proxy`)."""
    hidden: int
    layers: int
    heads: int
    intermediate: int
    """Width of the SwiGLU feed-forward layer."""
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-6
    init_std: float = 0.02
    """Standard deviation of every matrix's normal init (transformers' ``initializer_range``)."""

    def __post_init__(self) -> None:
        for name in ("vocab", "hidden", "layers", "heads", "intermediate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"proxy {name}: must be a positive integer, got {value!r}")
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ConfigError(f"proxy: hidden {self.hidden} must split into {self.heads} heads of an even width")

    @classmethod
    def for_proxy(cls, proxy: str | Mapping[str, int], vocab: int) -> "ProxyShape":
        """The shape of a named proxy (``midtrain.sweep.spec.PROXIES``) or of a dict of the same keys."""
        from midtrain.sweep.spec import PROXIES

        if isinstance(proxy, str):
            if proxy not in PROXIES:
                raise ConfigError(f"proxy: unknown proxy {proxy!r} (known: {', '.join(PROXIES)})")
            proxy = PROXIES[proxy]
        padded = -(-int(vocab) // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
        return cls(vocab=padded, hidden=int(proxy["hidden"]), layers=int(proxy["layers"]),
                   heads=int(proxy["heads"]), intermediate=int(proxy["intermediate"]))

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def parameters(self) -> int:
        """Parameters of one member (tied embeddings counted once)."""
        d, i = self.hidden, self.intermediate
        return self.vocab * d + self.layers * (4 * d * d + 3 * d * i + 2 * d) + d


class StackedLlama(nn.Module):
    """``models`` Llama decoders of one :class:`ProxyShape`, every parameter of shape ``[models, ...]``.

    Parameters (``x @ W`` layout, so a member's ``W`` is the transpose of ``nn.Linear.weight``):
    ``embed [M, V, D]`` (also the output head), per layer ``attn_norm [M, D]``, ``wqkv [M, D, 3D]``,
    ``wo [M, D, D]``, ``mlp_norm [M, D]``, ``w_gate_up [M, D, 2I]``, ``w_down [M, I, D]``, and the final
    ``norm [M, D]``.

    ``seeds`` initialises member ``m`` from ``seeds[m]`` (:meth:`reset_member`; default ``0..M-1``); an
    empty sequence leaves the weights uninitialised, for a caller that loads or resets them next.
    """

    def __init__(self, shape: ProxyShape, models: int, *, attention: Attention = "sdpa",
                 seeds: Iterable[int] | None = None) -> None:
        super().__init__()
        if isinstance(models, bool) or not isinstance(models, int) or models < 1:
            raise ConfigError(f"models: must be a positive integer, got {models!r}")
        if attention not in ("sdpa", "flex"):
            raise ConfigError(f"attention: must be 'sdpa' or 'flex', got {attention!r}")
        self.shape, self.models, self.attention = shape, models, attention
        M, D, I = models, shape.hidden, shape.intermediate
        self.embed = nn.Parameter(torch.empty(M, shape.vocab, D))
        self.layers = nn.ModuleList(_Block(M, D, I) for _ in range(shape.layers))
        self.norm = nn.Parameter(torch.ones(M, D))
        half = shape.head_dim // 2
        inv_freq = 1.0 / shape.rope_theta ** (torch.arange(0, half, dtype=torch.float32) * 2 / shape.head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        for m, seed in enumerate(range(M) if seeds is None else seeds):
            self.reset_member(m, seed=seed)

    # -- init and state -------------------------------------------------------------------------
    @torch.no_grad()
    def reset_member(self, m: int, *, seed: int) -> None:
        """Initialise member ``m`` from ``seed`` alone: norms 1, matrices normal(0, init_std), drawn on
        the CPU in parameter order, so a seed gives the same member on any device and in any stack."""
        gen = torch.Generator().manual_seed(int(seed))
        for name, p in self.named_parameters():
            if name.endswith("norm"):
                p[m].fill_(1.0)
            else:
                p[m].copy_(torch.randn(p.shape[1:], generator=gen) * self.shape.init_std)

    @torch.no_grad()
    def load_replicated(self, state: Mapping[str, torch.Tensor]) -> None:
        """Every member becomes the one model in ``state`` (a ``state_dict`` of a 1-member stack)."""
        for name, p in self.named_parameters():
            if name not in state:
                raise ConfigError(f"checkpoint: no tensor {name!r}; it is not a stacked proxy of this shape")
            src = state[name]
            if tuple(src.shape) != (1, *p.shape[1:]):
                raise ConfigError(f"checkpoint: {name} has shape {tuple(src.shape)}, expected {(1, *p.shape[1:])}")
            p.copy_(src.to(p.device, p.dtype).expand_as(p))

    @torch.no_grad()
    def llama_state_dict(self, m: int) -> dict[str, torch.Tensor]:
        """Member ``m`` under transformers' ``LlamaForCausalLM`` names (``nn.Linear`` layout, copies)."""
        D, I = self.shape.hidden, self.shape.intermediate
        out = {"model.embed_tokens.weight": self.embed[m].clone(), "model.norm.weight": self.norm[m].clone()}
        for i, blk in enumerate(self.layers):
            pre = f"model.layers.{i}."
            qkv = blk.wqkv[m]
            out[pre + "input_layernorm.weight"] = blk.attn_norm[m].clone()
            out[pre + "self_attn.q_proj.weight"] = qkv[:, :D].t().clone()
            out[pre + "self_attn.k_proj.weight"] = qkv[:, D:2 * D].t().clone()
            out[pre + "self_attn.v_proj.weight"] = qkv[:, 2 * D:].t().clone()
            out[pre + "self_attn.o_proj.weight"] = blk.wo[m].t().clone()
            out[pre + "post_attention_layernorm.weight"] = blk.mlp_norm[m].clone()
            out[pre + "mlp.gate_proj.weight"] = blk.w_gate_up[m][:, :I].t().clone()
            out[pre + "mlp.up_proj.weight"] = blk.w_gate_up[m][:, I:].t().clone()
            out[pre + "mlp.down_proj.weight"] = blk.w_down[m].t().clone()
        return out

    @torch.no_grad()
    def load_llama_state_dict(self, m: int, state: Mapping[str, torch.Tensor]) -> None:
        """Set member ``m`` from a ``LlamaForCausalLM``-named state dict (the inverse of :meth:`llama_state_dict`)."""
        D = self.shape.hidden
        self.embed[m].copy_(state["model.embed_tokens.weight"])
        self.norm[m].copy_(state["model.norm.weight"])
        for i, blk in enumerate(self.layers):
            pre = f"model.layers.{i}."
            blk.attn_norm[m].copy_(state[pre + "input_layernorm.weight"])
            for j, part in enumerate(("q_proj", "k_proj", "v_proj")):
                blk.wqkv[m][:, j * D:(j + 1) * D].copy_(state[pre + f"self_attn.{part}.weight"].t())
            blk.wo[m].copy_(state[pre + "self_attn.o_proj.weight"].t())
            blk.mlp_norm[m].copy_(state[pre + "post_attention_layernorm.weight"])
            blk.w_gate_up[m].copy_(torch.cat([state[pre + "mlp.gate_proj.weight"].t(),
                                              state[pre + "mlp.up_proj.weight"].t()], dim=1))
            blk.w_down[m].copy_(state[pre + "mlp.down_proj.weight"].t())

    # -- forward --------------------------------------------------------------------------------
    def block_mask(self, document_ids: torch.Tensor) -> Any:
        """The FlexAttention ``BlockMask`` of a ``[M, B, T]`` batch (``attention="flex"`` only):
        same document and causal, over the M·B sequences; padding (-1) sees only padding.

        The document ids are copied into one persistent buffer that a single ``mask_mod`` reads, so
        every step's mask has the same ``mask_mod`` object: a compiled model sees new tensor values,
        not a new function to guard on (and recompile for). Copies are stream-ordered after the
        previous step's kernels, which read the buffer before it changes."""
        from torch.nn.attention.flex_attention import create_block_mask

        M, B, T = document_ids.shape
        doc = document_ids.reshape(M * B, T)
        buffer = getattr(self, "_mask_documents", None)
        if buffer is None or buffer.shape != doc.shape or buffer.device != doc.device:
            buffer = self._mask_documents = torch.empty(doc.shape, dtype=torch.int32, device=doc.device)

            def same_document_causal(b, h, q, k):
                return (buffer[b, q] == buffer[b, k]) & (q >= k)

            self._mask_mod = same_document_causal
        buffer.copy_(doc)
        return create_block_mask(self._mask_mod, M * B, None, T, T, device=doc.device)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, document_ids: torch.Tensor,
                labels: torch.Tensor | None = None, block_mask: Any = None):
        """Logits ``[M, B, T, V]``, or with ``labels`` each member's ``(loss_sum [M], token_count [M])``
        in float32 (labels are already shifted; -100 is ignored).

        Inputs are ``[M, B, T]``: row ``b`` of member ``m`` is its own packed sequence. With
        ``attention="flex"`` pass ``block_mask=self.block_mask(document_ids)`` (built outside a
        compiled graph); with SDPA the boolean mask is built here from ``document_ids``.
        """
        M, B, T = input_ids.shape
        if M != self.models:
            raise ConfigError(f"batch has {M} members, the stack has {self.models}")
        V, D = self.shape.vocab, self.shape.hidden
        offsets = torch.arange(M, device=input_ids.device).view(M, 1, 1) * V
        x = F.embedding((input_ids.long() + offsets).view(M, B * T), self.embed.view(M * V, D))
        cos, sin = self._rope(position_ids.reshape(M * B, T))
        if self.attention == "flex":
            if block_mask is None:
                raise ConfigError("attention='flex' needs block_mask=model.block_mask(document_ids)")
            mask = block_mask
        else:
            doc = document_ids.reshape(M * B, T)
            causal = torch.ones(T, T, dtype=torch.bool, device=doc.device).tril()
            mask = ((doc[:, :, None] == doc[:, None, :]) & causal)[:, None]
        for blk in self.layers:
            x = blk(x, cos, sin, mask, B, self.shape.heads, self.shape.norm_eps, self.attention)
        x = _rms_norm(x, self.norm, self.shape.norm_eps)
        logits = torch.bmm(x, self.embed.transpose(1, 2))  # tied output head: [M, B*T, V]
        if labels is None:
            return logits.view(M, B, T, V)
        labels = labels.reshape(M, B * T).long()
        token_loss = F.cross_entropy(logits.float().reshape(-1, V), labels.reshape(-1), ignore_index=-100,
                                     reduction="none").view(M, B * T)
        return token_loss.sum(1), (labels != -100).sum(1).to(torch.float32)

    def _rope(self, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin ``[N, 1, T, head_dim]`` of Llama's rotary embedding at these positions."""
        freqs = position_ids.to(torch.float32)[..., None] * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1)[:, None]
        return emb.cos(), emb.sin()


class _Block(nn.Module):
    """One stacked decoder layer: pre-norm attention and pre-norm SwiGLU, both residual."""

    def __init__(self, M: int, D: int, I: int) -> None:
        super().__init__()
        self.attn_norm = nn.Parameter(torch.ones(M, D))
        self.wqkv = nn.Parameter(torch.empty(M, D, 3 * D))
        self.wo = nn.Parameter(torch.empty(M, D, D))
        self.mlp_norm = nn.Parameter(torch.ones(M, D))
        self.w_gate_up = nn.Parameter(torch.empty(M, D, 2 * I))
        self.w_down = nn.Parameter(torch.empty(M, I, D))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: Any, B: int, heads: int,
                eps: float, attention: Attention) -> torch.Tensor:
        M, BT, D = x.shape
        T, hd = BT // B, D // heads
        qkv = torch.bmm(_rms_norm(x, self.attn_norm, eps), self.wqkv)
        q, k, v = qkv.view(M * B, T, 3, heads, hd).permute(2, 0, 3, 1, 4).unbind(0)  # each [M·B, H, T, hd]
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        if attention == "flex":
            o = _flex_attention(q, k, v, block_mask=mask)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + torch.bmm(o.transpose(1, 2).reshape(M, BT, D), self.wo)
        gate, up = torch.bmm(_rms_norm(x, self.mlp_norm, eps), self.w_gate_up).chunk(2, dim=-1)
        return x + torch.bmm(F.silu(gate) * up, self.w_down)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Llama's RMSNorm in float32, per member (``weight [M, D]``), returned in ``x``'s dtype."""
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (weight[:, None, :].float() * y).to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, ``rotate_half`` convention (transformers' Llama)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat([-x2, x1], dim=-1) * sin.to(x.dtype)


_COMPILED_FLEX: Any = None


def _flex_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, block_mask: Any) -> torch.Tensor:
    """FlexAttention: traced as it is inside a ``torch.compile``-d model; compiled on its own (once)
    when the model runs eagerly, since eager FlexAttention materialises the scores (slow and large)."""
    global _COMPILED_FLEX
    from torch.nn.attention.flex_attention import flex_attention

    if torch.compiler.is_compiling():
        return flex_attention(q, k, v, block_mask=block_mask)
    if _COMPILED_FLEX is None:
        _COMPILED_FLEX = torch.compile(flex_attention, dynamic=False)
    return _COMPILED_FLEX(q, k, v, block_mask=block_mask)


# -- optimisation ---------------------------------------------------------------------------------
def parameter_groups(model: StackedLlama, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: matrices and the (tied) embedding decay, norm weights do not."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 3]
    rest = [p for n, p in model.named_parameters() if p.ndim < 3]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_optimizer(model: StackedLlama, *, lr: float, weight_decay: float = 0.1,
                   betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8,
                   fused: bool | None = None) -> torch.optim.AdamW:
    """One AdamW over the stacked tensors: since AdamW is elementwise (decoupled weight decay included),
    it is M AdamWs, one per member. ``fused`` defaults to on for CUDA parameters."""
    if fused is None:
        fused = model.embed.is_cuda
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, fused=bool(fused))


@torch.no_grad()
def clip_grad_norm_per_model(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clip each member's gradient to ``max_norm`` (L2 over that member's slices of every parameter).

    Returns the ``[M]`` norms before clipping. Same formula as ``torch.nn.utils.clip_grad_norm_``
    (scale ``max_norm / (norm + 1e-6)`` when it is below 1), member by member, so clipping one member
    never touches another's gradient.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(0)
    M = grads[0].shape[0]
    squares = torch.stack([g.reshape(M, -1).float().pow(2).sum(1) for g in grads]).sum(0)
    norms = squares.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(M, *([1] * (g.ndim - 1))).to(g.dtype))
    return norms


def member_parameter_count(model: StackedLlama) -> int:
    """Parameters of one member (the stack's total divided by M)."""
    return sum(p.numel() for p in model.parameters()) // model.models


__all__ = ["ProxyShape", "StackedLlama", "clip_grad_norm_per_model", "make_optimizer", "parameter_groups",
           "member_parameter_count"]
