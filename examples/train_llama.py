"""Train a randomly initialised Llama (transformers) on a midtrain token corpus and schedule.

This is the client users copy: one GPU, or several with ``torchrun`` (NCCL; gloo on CPU), DDP.

    python examples/train_llama.py --corpus TOKENS --schedule MIX.yaml --tokens 20M --seq-len 2048 \\
        --batch-size 16 --model small --attention flex --workers 2 --out run.json
    torchrun --nproc_per_node 2 examples/train_llama.py ...       # global batch = 2 x --batch-size

What it shows:
- packed documents are isolated: ``--attention flex`` builds a FlexAttention ``BlockMask`` from the
  batch's per-token ``document_ids`` (``mask_mod = same document & causal``), ``--attention sdpa``
  a 4-D boolean block-diagonal causal mask; ``position_ids`` alone do not isolate documents in
  transformers 5.x (shared/GPU.md);
- per-domain loss from the batch's ``domain`` ids, all-reduced over ranks, which is also what an
  adaptive policy (``--policy doremi|exp3``) consumes through ``loader.update_mixture``;
- the loader's share of step time (time blocked in ``next(batch)``);
- long context: a schedule phase's ``rope`` block reaches the trainer with its batches
  (``batch["rope"]``) and is applied at the boundary (``midtrain.loaders.rope.apply_rope``);
  ``tokens_per_step`` phases change the number of rows per step; ``--doc-mask none`` trains on plain
  concatenation (one causal scope per row);
- exact resume: ``--save-state`` writes the loader state after ``--stop-after`` steps,
  ``--resume-state`` continues from it; ``--fingerprints`` records every row each rank consumed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from midtrain.corpus import Manifest
from midtrain.loaders import build_loader
from midtrain.loaders.rope import apply_rope
from midtrain.mixers import corpus_domain_tokens, load_schedule
from midtrain.mixers.positions import parse_position

# (hidden, layers, heads, intermediate): "base" is shared/GPU.md's 191M model at vocab 50k
MODEL_SIZES = {
    "tiny": (64, 2, 4, 172),
    "small": (512, 8, 8, 1376),
    "base": (768, 12, 12, 2048),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True, help="token corpus folder")
    p.add_argument("--schedule", required=True, help="schedule file (YAML/TOML/JSON) or a JSON string")
    p.add_argument("--tokens", required=True, help="training budget in tokens, e.g. 20M")
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=16, help="sequences per rank per step")
    p.add_argument("--model", choices=sorted(MODEL_SIZES), default="small")
    p.add_argument("--attention", choices=["flex", "sdpa"], default="flex")
    p.add_argument("--packing", choices=["concat", "best_fit"], default="concat")
    p.add_argument("--doc-mask", choices=["document", "none"], default="document",
                   help="document: attention stays inside documents; none: one causal scope per row")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seeds the model init and the data order")
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=float, default=0.02, help="warm-up, fraction of steps")
    p.add_argument("--decay", type=float, default=0.0,
                   help="WSD: decay the learning rate linearly to 10%% over this last fraction of steps")
    p.add_argument("--policy", choices=["none", "doremi", "exp3"], default="none")
    p.add_argument("--update-every", type=int, default=20, help="steps between adaptive policy updates")
    p.add_argument("--reference-loss", help="DoReMi reference per-token loss per domain, as a JSON object")
    p.add_argument("--eval-corpus", help="held-out token corpus for per-domain loss at the end")
    p.add_argument("--eval-batches", type=int, default=8, help="held-out batches per domain")
    p.add_argument("--stop-after", type=int, help="stop after this many steps (to test resume)")
    p.add_argument("--save-state", help="write the loader state here when stopping")
    p.add_argument("--resume-state", help="continue from this loader state")
    p.add_argument("--fingerprints", help="write every consumed row's fingerprint (one JSON file per rank)")
    p.add_argument("--out", help="write the run's results as JSON (rank 0)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    return p.parse_args(argv)


def setup_distributed(device: str) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def build_model(size: str, vocab: int, seq_len: int, attention: str, device: torch.device, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, inter = MODEL_SIZES[size]
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=heads, intermediate_size=inter, max_position_embeddings=max(seq_len, 32768),
                         tie_word_embeddings=False)
    config._attn_implementation = "flex_attention" if attention == "flex" else "sdpa"
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(device)
    if device.type == "cuda":
        model = model.to(torch.bfloat16)
    return model


def document_mask(document_ids: torch.Tensor, attention: str):
    """Causal attention that never crosses a document boundary (padding is its own document)."""
    B, L = document_ids.shape
    doc = document_ids.clone()
    # padding rows have document id -1; give each row's padding a distinct id so it only sees itself
    if attention == "flex":
        from torch.nn.attention.flex_attention import create_block_mask

        def mask_mod(b, h, q, k):
            return (doc[b, q] == doc[b, k]) & (q >= k)

        return create_block_mask(mask_mod, B, None, L, L, device=doc.device)
    causal = torch.ones(L, L, dtype=torch.bool, device=doc.device).tril()
    return ((doc[:, :, None] == doc[:, None, :]) & causal)[:, None]


def row_fingerprints(batch: dict) -> list[str]:
    ids = batch["input_ids"].numpy()
    labels = batch["labels"].numpy()
    return [hashlib.sha256(ids[r].astype(np.int64).tobytes() + labels[r].astype(np.int64).tobytes()).hexdigest()[:16]
            for r in range(ids.shape[0])]


def planned_steps(schedule, total_tokens: int, global_tokens: int, seq_len: int) -> int:
    """Optimizer steps of the run: each phase's tokens over its tokens per step (``tokens_per_step``,
    else ``--batch-size x world x`` the phase's ``seq_len``)."""
    steps = 0
    for phase in schedule.phases:
        end = min(phase.end if phase.end is not None else total_tokens, total_tokens)
        if end <= phase.start:
            continue
        per_step = phase.tokens_per_step or global_tokens // seq_len * (phase.seq_len or seq_len)
        steps += -(-(end - phase.start) // per_step)
    return steps


def lr_at(step: int, steps: int, args: argparse.Namespace) -> float:
    warm = max(1, int(args.warmup * steps))
    if step < warm:
        return args.lr * (step + 1) / warm
    decay_start = steps - int(args.decay * steps)
    if args.decay > 0 and step >= decay_start:
        frac = (step - decay_start) / max(1, steps - decay_start)
        return args.lr * (1.0 - 0.9 * frac)
    return args.lr


def per_domain_loss(logits: torch.Tensor, labels: torch.Tensor, domain: torch.Tensor, k: int):
    """Summed token loss and token count per domain, plus the mean loss to backpropagate."""
    tok = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                          reduction="none").view(labels.shape)
    valid = (labels != -100)
    seq_loss = (tok * valid).sum(1)
    seq_count = valid.sum(1).to(torch.float64)
    loss_sum = torch.zeros(k, dtype=torch.float64, device=logits.device).index_add_(0, domain, seq_loss.detach().double())
    count = torch.zeros(k, dtype=torch.float64, device=logits.device).index_add_(0, domain, seq_count)
    return loss_sum, count, seq_loss.sum() / valid.sum().clamp(min=1)


def make_policy(args: argparse.Namespace, domains: list[str], schedule):
    """DoReMi needs per-domain reference losses (DoReMi's reference model is one trained on the
    initial mix: pass the held-out losses of such a run); EXP3 (Online Data Mixing) needs none."""
    from midtrain.mixers import DoReMiPolicy, Exp3Policy

    init = schedule.weights_vector_at(0)
    if args.policy == "doremi":
        if not args.reference_loss:
            raise SystemExit("--policy doremi needs --reference-loss '{\"code\": 2.1, ...}' (per-token losses)")
        ref = json.loads(args.reference_loss)
        return DoReMiPolicy(domains, init, reference_loss=[float(ref[d]) for d in domains])
    return Exp3Policy(domains, init, seed=args.seed)


@torch.no_grad()
def evaluate(model, args, domains, device, attention) -> dict[str, float]:
    model.eval()
    out = {}
    for d in domains:
        sched = {"domains": [d], "phases": [{"weights": {d: 1.0}}]}
        loader = build_loader(args.eval_corpus, load_schedule(sched), seq_len=args.seq_len, batch_size=args.batch_size,
                              seed=1234, rank=0, world_size=1, packing="best_fit", compact=True)
        tot = cnt = 0.0
        for i, batch in enumerate(loader):
            if i >= args.eval_batches:
                break
            ids = batch["input_ids"].to(device, non_blocking=True).long()
            labels = batch["labels"].to(device, non_blocking=True).long()
            pos = batch["position_ids"].to(device, non_blocking=True).long()
            mask = document_mask(batch["document_ids"].to(device), attention)
            logits = model(input_ids=ids, position_ids=pos, attention_mask=mask).logits
            ls, c, _ = per_domain_loss(logits, labels, torch.zeros(ids.shape[0], dtype=torch.long, device=device), 1)
            tot += float(ls[0])
            cnt += float(c[0])
        out[d] = tot / max(cnt, 1.0)
    model.train()
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.device)
    manifest = Manifest.read(args.corpus)
    vocab = int((manifest.tokenizer or {}).get("vocab_size") or 65536)
    vocab = (vocab + 63) // 64 * 64
    total_tokens = int(args.tokens) if args.tokens.isdigit() else parse_position(args.tokens, "--tokens", None)
    schedule_src = json.loads(args.schedule) if args.schedule.lstrip().startswith("{") else args.schedule
    schedule = load_schedule(schedule_src, total_tokens=total_tokens, domain_tokens=corpus_domain_tokens(args.corpus),
                             missing_domains="renormalise")
    domains = list(schedule.domains)
    policy = make_policy(args, domains, schedule) if args.policy != "none" else None
    loader = build_loader(args.corpus, schedule, seq_len=args.seq_len, batch_size=args.batch_size, seed=args.seed,
                          rank=rank, world_size=world, num_workers=args.workers, packing=args.packing,
                          compact=True, pin_memory=device.type == "cuda", policy=policy, doc_mask=args.doc_mask,
                          mask_cross_document_labels=args.doc_mask == "document")
    if args.resume_state:
        loader.load_state_dict(json.loads(Path(args.resume_state).read_text()))
    global_tokens = args.batch_size * world * args.seq_len
    steps = planned_steps(schedule, total_tokens, global_tokens, args.seq_len)
    model = build_model(args.model, vocab, args.seq_len, args.attention, device, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                          else None)
    if args.compile:
        model = torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    k = len(domains)
    acc_loss = torch.zeros(k, dtype=torch.float64, device=device)
    acc_count = torch.zeros(k, dtype=torch.float64, device=device)
    fingerprints: list[list[str]] = []
    wait_s, step_s, log = [], [], []
    start_step = loader.batches_consumed
    it = iter(loader)
    t_prev = time.perf_counter()
    step = start_step
    rope = None
    while step < steps:
        if args.stop_after is not None and step >= args.stop_after:
            break
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:  # the schedule's token budget is used up
            break
        t1 = time.perf_counter()
        if batch["rope"] != rope:  # a phase boundary with new RoPE settings
            rope = batch["rope"]
            apply_rope(model, rope)
        if args.fingerprints:
            fingerprints.append(row_fingerprints(batch))
        ids = batch["input_ids"].to(device, non_blocking=True).long()
        labels = batch["labels"].to(device, non_blocking=True).long()
        pos = batch["position_ids"].to(device, non_blocking=True).long()
        dom = batch["domain"].to(device, non_blocking=True)
        doc_ids = batch["document_ids"].to(device, non_blocking=True)
        mask = document_mask(doc_ids, args.attention)  # with --doc-mask none every row is one document
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, args)
        logits = model(input_ids=ids, position_ids=pos, attention_mask=mask).logits
        loss_sum, count, loss = per_domain_loss(logits, labels, dom, k)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if world > 1:
            dist.all_reduce(loss_sum)
            dist.all_reduce(count)
        acc_loss += loss_sum.detach()
        acc_count += count
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        wait_s.append(t1 - t0)
        step_s.append(t2 - t_prev)
        t_prev = t2
        step += 1
        if policy is not None and step % args.update_every == 0:
            # the loader logs the new weights and sends them to its running workers; they apply
            # from a block boundary no worker has planned yet (LoaderConfig.mixture_lookahead)
            loader.update_mixture(acc_loss.cpu().numpy(), acc_count.cpu().numpy())
            acc_loss.zero_()
            acc_count.zero_()
        if rank == 0 and (step % 50 == 0 or step == steps):
            per = {d: round(float(loss_sum[i] / count[i]), 4) for i, d in enumerate(domains) if count[i] > 0}
            log.append({"step": step, "loss": round(float(loss), 4), "per_domain": per,
                        "lr": opt.param_groups[0]["lr"]})
            print(json.dumps(log[-1]), flush=True)
    if args.save_state and rank == 0:
        Path(args.save_state).write_text(json.dumps(loader.state_dict()))
    if args.fingerprints:
        Path(f"{args.fingerprints}.rank{rank}.json").write_text(json.dumps(
            {"rank": rank, "world_size": world, "start_step": start_step, "rows": fingerprints}))
    # the first steps include compilation / allocator warm-up: report medians of the rest
    skip = min(5, max(0, len(step_s) - 1))
    med_step = float(np.median(step_s[skip:])) if step_s else 0.0
    med_wait = float(np.median(wait_s[skip:])) if wait_s else 0.0
    result = {
        "rank": rank, "world_size": world, "model": args.model, "params": n_params, "steps": step - start_step,
        "global_batch_tokens": global_tokens, "median_step_s": med_step, "median_wait_s": med_wait,
        "mean_wait_share": float(np.sum(wait_s[skip:]) / max(np.sum(step_s[skip:]), 1e-9)) if step_s else 0.0,
        "tokens_per_s": global_tokens / med_step if med_step else 0.0,
        "final_weights": loader.state_dict()["mixture_log"][-1][1] if loader.state_dict()["mixture_log"] else None,
        "log": log,
    }
    if args.eval_corpus and rank == 0 and args.stop_after is None:
        inner = model.module if hasattr(model, "module") else model
        inner = getattr(inner, "_orig_mod", inner)
        result["heldout_loss"] = evaluate(inner, args, domains, device, args.attention)
    if rank == 0:
        print(json.dumps({k: v for k, v in result.items() if k != "log"}), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
