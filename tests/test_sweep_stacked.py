"""A stack of M proxies is M separate Llamas: same logits, losses, gradients and AdamW steps (fp32, CPU).

The reference is a plain single Llama written here with ``nn.Linear``/``nn.Embedding``/``nn.RMSNorm``
and an explicit softmax attention (no SDPA, no bmm), under transformers' ``LlamaForCausalLM`` names,
so :meth:`StackedLlama.llama_state_dict` moves a member into it unchanged.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from midtrain.errors import ConfigError
from midtrain.sweep.stacked import ProxyShape, StackedLlama, clip_grad_norm_per_model, make_optimizer
from helpers.torch_threads import one_thread  # noqa: F401  (autouse fixture)

SHAPE = ProxyShape(vocab=128, hidden=32, layers=2, heads=4, intermediate=64)
M, B, T = 3, 2, 64
TOL = dict(rtol=1e-5, atol=1e-5)


class RefAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x, pos, doc):
        b, t, d = x.shape
        hd = d // self.heads

        def split(y):
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        inv = 1.0 / 10_000.0 ** (torch.arange(0, hd, 2).float() / hd)
        ang = pos.float()[:, None, :, None] * torch.cat([inv, inv])
        cos, sin = ang.cos(), ang.sin()

        def rope(y):
            return y * cos + torch.cat([-y[..., hd // 2:], y[..., :hd // 2]], -1) * sin

        q, k = rope(q), rope(k)
        scores = q @ k.transpose(-1, -2) / hd ** 0.5
        allowed = (doc[:, :, None] == doc[:, None, :]) & torch.ones(t, t, dtype=torch.bool).tril()
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        return self.o_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))


class RefMLP(nn.Module):
    def __init__(self, d: int, i: int) -> None:
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(d, i, bias=False), nn.Linear(d, i, bias=False)
        self.down_proj = nn.Linear(i, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RefLayer(nn.Module):
    def __init__(self, s: ProxyShape) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(s.hidden, eps=s.norm_eps)
        self.self_attn = RefAttention(s.hidden, s.heads)
        self.post_attention_layernorm = nn.RMSNorm(s.hidden, eps=s.norm_eps)
        self.mlp = RefMLP(s.hidden, s.intermediate)

    def forward(self, x, pos, doc):
        x = x + self.self_attn(self.input_layernorm(x), pos, doc)
        return x + self.mlp(self.post_attention_layernorm(x))


class RefLlama(nn.Module):
    """One Llama with tied embeddings, as transformers names it."""

    def __init__(self, s: ProxyShape) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(s.vocab, s.hidden)
        self.model.layers = nn.ModuleList(RefLayer(s) for _ in range(s.layers))
        self.model.norm = nn.RMSNorm(s.hidden, eps=s.norm_eps)

    def forward(self, ids, pos, doc):
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, pos, doc)
        return self.model.norm(x) @ self.model.embed_tokens.weight.t()

    def mean_loss(self, ids, pos, doc, labels):
        logits = self(ids, pos, doc)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def packed_batch(seed: int, members: int = M) -> dict[str, torch.Tensor]:
    """Rows of several documents each (positions restart, labels -100 at each document's end), some padding."""
    g = torch.Generator().manual_seed(seed)
    shape = (members, B, T)
    ids = torch.randint(1, SHAPE.vocab, shape, generator=g)
    doc = torch.full(shape, -1, dtype=torch.long)
    pos = torch.zeros(shape, dtype=torch.long)
    labels = torch.full(shape, -100, dtype=torch.long)
    for m in range(members):
        for b in range(B):
            t, d = 0, 0
            used = T - int(torch.randint(0, 9, (1,), generator=g))  # 0-8 tokens of padding at the end
            while t < used:
                n = min(used - t, int(torch.randint(3, 30, (1,), generator=g)))
                doc[m, b, t:t + n] = d
                pos[m, b, t:t + n] = torch.arange(n)
                labels[m, b, t:t + n - 1] = ids[m, b, t + 1:t + n]
                t, d = t + n, d + 1
            pos[m, b, used:] = torch.arange(T - used)
            ids[m, b, used:] = 0
    return {"input_ids": ids, "position_ids": pos, "document_ids": doc, "labels": labels}


def make_pair(seeds=(11, 12, 13)) -> tuple[StackedLlama, list[RefLlama]]:
    stacked = StackedLlama(SHAPE, M, seeds=seeds)
    refs = []
    for m in range(M):
        ref = RefLlama(SHAPE)
        ref.load_state_dict(stacked.llama_state_dict(m), strict=True)
        refs.append(ref)
    return stacked, refs


def stacked_mean_losses(model: StackedLlama, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    loss_sum, count = model(batch["input_ids"], batch["position_ids"], batch["document_ids"], batch["labels"])
    return loss_sum / count


def ref_optimizer(ref: RefLlama, lr: float) -> torch.optim.AdamW:
    """The single-model twin of ``make_optimizer``: matrices and embedding decay, norms do not."""
    decay = [p for p in ref.parameters() if p.ndim >= 2]
    rest = [p for p in ref.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def grads_as_llama(model: StackedLlama, m: int) -> dict[str, torch.Tensor]:
    shadow = copy.deepcopy(model)
    for p, q in zip(shadow.parameters(), model.parameters()):
        p.data = q.grad.clone()
    return shadow.llama_state_dict(m)


def test_logits_and_losses_equal_separate_models():
    stacked, refs = make_pair()
    batch = packed_batch(0)
    with torch.no_grad():
        logits = stacked(batch["input_ids"], batch["position_ids"], batch["document_ids"])
        losses = stacked_mean_losses(stacked, batch)
        for m, ref in enumerate(refs):
            args = (batch["input_ids"][m], batch["position_ids"][m], batch["document_ids"][m])
            torch.testing.assert_close(logits[m], ref(*args), **TOL)
            torch.testing.assert_close(losses[m], ref.mean_loss(*args, batch["labels"][m]), **TOL)


def test_gradients_and_one_adamw_step_equal_separate_models():
    stacked, refs = make_pair()
    batch = packed_batch(1)
    opt = make_optimizer(stacked, lr=1e-2, weight_decay=0.1)
    stacked_mean_losses(stacked, batch).sum().backward()
    for m, ref in enumerate(refs):
        args = (batch["input_ids"][m], batch["position_ids"][m], batch["document_ids"][m], batch["labels"][m])
        ref.mean_loss(*args).backward()
        grads = grads_as_llama(stacked, m)
        for name, p in ref.named_parameters():
            torch.testing.assert_close(grads[name], p.grad, **TOL, msg=lambda s, n=name: f"{n}: {s}")
    # Adam's first step is about lr * sign(g): an element whose gradient is near eps turns a 1e-9
    # difference into a visible one; so the step starts both sides from the stack's (equal) gradients
    for m, ref in enumerate(refs):
        grads = grads_as_llama(stacked, m)
        for name, p in ref.named_parameters():
            p.grad = grads[name]
    norms = clip_grad_norm_per_model(stacked.parameters(), 1.0)
    opt.step()
    for m, ref in enumerate(refs):
        norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        torch.testing.assert_close(norms[m], norm, **TOL)
        ref_optimizer(ref, 1e-2).step()
        after = stacked.llama_state_dict(m)
        for name, p in ref.named_parameters():
            torch.testing.assert_close(after[name], p.detach(), **TOL, msg=lambda s, n=name: f"{n}: {s}")


def test_weight_decay_is_per_member_and_skips_norms():
    """With zero gradients an AdamW step is pure decoupled decay: p <- p (1 - lr wd) on matrices, norms untouched."""
    stacked = StackedLlama(SHAPE, M, seeds=(1, 2, 3))
    before = copy.deepcopy(stacked)
    opt = make_optimizer(stacked, lr=0.5, weight_decay=0.1)
    for p in stacked.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for (name, p), q in zip(stacked.named_parameters(), before.parameters()):
        factor = 1.0 if name.endswith("norm") else 1 - 0.5 * 0.1
        torch.testing.assert_close(p.detach(), q.detach() * factor, rtol=0, atol=1e-7)


def test_clipping_one_members_huge_gradient_leaves_the_others_unchanged():
    batch = packed_batch(2)
    results = []
    for blow_up in (1.0, 1e6):
        stacked = StackedLlama(SHAPE, M, seeds=(4, 5, 6))
        opt = make_optimizer(stacked, lr=1e-2)
        losses = stacked_mean_losses(stacked, batch)
        (losses * torch.tensor([1.0, blow_up, 1.0])).sum().backward()
        norms = clip_grad_norm_per_model(stacked.parameters(), 1.0)
        after = torch.stack([g.reshape(M, -1).pow(2).sum(1) for g in (p.grad for p in stacked.parameters())]).sum(0)
        opt.step()
        results.append(([stacked.llama_state_dict(m) for m in range(M)], norms, after.sqrt()))
    (normal, n_norms, _), (huge, h_norms, h_after) = results
    assert h_norms[1] > 1e5 * n_norms[1]
    torch.testing.assert_close(h_after[1], torch.tensor(1.0), rtol=1e-4, atol=0)
    for m in (0, 2):
        assert torch.equal(h_norms[m], n_norms[m])
        for name in normal[m]:
            assert torch.equal(normal[m][name], huge[m][name]), name


def test_documents_in_a_packed_row_do_not_see_each_other():
    """Changing document 0 of a row leaves document 1's logits as they were, and equal to document 1 alone."""
    stacked = StackedLlama(SHAPE, M, seeds=(7, 8, 9))
    g = torch.Generator().manual_seed(3)
    first, second = 20, T - 20
    ids = torch.randint(1, SHAPE.vocab, (M, B, T), generator=g)
    doc = torch.cat([torch.zeros(M, B, first), torch.ones(M, B, second)], -1).long()
    pos = torch.cat([torch.arange(first), torch.arange(second)]).expand(M, B, T)
    changed = ids.clone()
    changed[:, :, :first] = torch.randint(1, SHAPE.vocab, (M, B, first), generator=g)
    with torch.no_grad():
        a = stacked(ids, pos, doc)[:, :, first:]
        b = stacked(changed, pos, doc)[:, :, first:]
        alone = stacked(ids[:, :, first:].contiguous(), pos[:, :, first:].contiguous(),
                        doc[:, :, first:].contiguous())
    assert not torch.equal(stacked(changed, pos, doc)[:, :, :first], stacked(ids, pos, doc)[:, :, :first])
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    torch.testing.assert_close(a, alone, **TOL)


def test_members_do_not_see_each_others_batches():
    stacked = StackedLlama(SHAPE, M, seeds=(7, 8, 9))
    batch, other = packed_batch(4), packed_batch(5)
    mixed = {k: torch.cat([v[:1], other[k][1:]]) for k, v in batch.items()}
    with torch.no_grad():
        a, b = stacked_mean_losses(stacked, batch), stacked_mean_losses(stacked, mixed)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-6)
    assert not torch.allclose(a[1:], b[1:])


def test_a_seed_gives_the_same_member_in_any_stack_and_replication_copies_one():
    small = StackedLlama(SHAPE, 1, seeds=(42,))
    big = StackedLlama(SHAPE, M, seeds=(0, 42, 1))
    for name, p in small.named_parameters():
        assert torch.equal(p[0], dict(big.named_parameters())[name][1]), name
    big.load_replicated(small.state_dict())
    for m in range(M):
        for name, p in small.named_parameters():
            assert torch.equal(p[0], dict(big.named_parameters())[name][m])
    with pytest.raises(ConfigError, match="shape"):
        StackedLlama(ProxyShape(vocab=128, hidden=64, layers=2, heads=4, intermediate=64), 2).load_replicated(
            small.state_dict())


def test_proxy_shapes_come_from_the_spec():
    from midtrain.sweep.spec import PROXIES

    shape = ProxyShape.for_proxy("s14m", 32_768)
    assert {k: getattr(shape, k) for k in PROXIES["s14m"]} == PROXIES["s14m"] and shape.vocab == 32_768
    assert ProxyShape.for_proxy("s14m", 1000).vocab == 1024  # padded to a multiple of 64
    assert sum(p.numel() for p in StackedLlama(SHAPE, 2).parameters()) == 2 * SHAPE.parameters
    with pytest.raises(ConfigError, match="unknown proxy"):
        ProxyShape.for_proxy("s1b", 100)


@pytest.mark.slow  # FlexAttention compiles its CPU kernel first (~80 s on 2 shared cores); CPU has no flex backward
def test_flex_block_mask_gives_the_sdpa_logits():
    """The CUDA path (FlexAttention BlockMask from document ids) equals the boolean SDPA mask, for several
    batches through the one persistent mask buffer."""
    sdpa = StackedLlama(SHAPE, M, seeds=(1, 2, 3))
    flex = StackedLlama(SHAPE, M, seeds=(1, 2, 3), attention="flex")
    with torch.no_grad():
        for seed in range(3):
            b = packed_batch(seed)
            args = (b["input_ids"], b["position_ids"], b["document_ids"])
            torch.testing.assert_close(flex(*args, block_mask=flex.block_mask(b["document_ids"])), sdpa(*args),
                                       rtol=1e-5, atol=1e-5)
