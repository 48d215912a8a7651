"""Issue 17 on one GPU: a 2K base run, then 16K extension arms at the same tokens per step, evaluated.

    bash benchmarks/gpu/unpack.sh benchmarks/.cache/longctx_bundle /tmp/midtrain_lc
    python benchmarks/gpu/run_longctx.py --data /tmp/midtrain_lc --out $OUT
    python benchmarks/gpu/run_longctx.py --dry-run --out /tmp/lc_dry           # CPU, tiny sizes, every arm

``--data`` holds ``train_tokens/``, ``heldout_tokens/``, ``tokenizer.json`` and, for arm A5,
``code_grouped_tokens/`` (the train split's code files grouped per package by ``midtrain group
--by repo``, tokenized; ``benchmarks/gpu/prepare_longctx.py`` and benchmarks/gpu/README.md): the
A5 corpus is ``train_tokens`` with its ``code`` shards replaced by those (assembled here, shards
linked, manifest written last).

Stage A trains a "small" Llama (512 hidden, 8 layers) from scratch at 2,048 tokens, RoPE θ 1e4,
document masks, the natural mix, ``--step-tokens`` tokens per step. Every stage-B arm starts from
that checkpoint, sets θ 5e5 (``midtrain rope-base 16384`` = 3.1e5) through the schedule's ``rope``
block (applied by ``midtrain.loaders.rope.apply_rope`` when the batches bring it) and trains at
16,384 tokens with the same tokens per step:

- A0 no training (θ kept at 1e4, and θ raised to 5e5);
- A1 concatenation without masks (``doc_mask: none``), natural mix;
- A2 document masks, natural mix;
- A3 masks + length upsampling inside every domain (documents < 4,096 tokens kept with p 0.1);
- A4 masks + the long-rich domain upweighted (books at 60 %, the rest in proportion: the arm Fu et
  al. 2024 found worse than A3);
- A5 A3 with package-level code documents (files of a package concatenated in dependency order).

Each stage trains for its token target or its time budget, whichever comes first (the tokens
reached are reported). Evaluation (``midtrain.longctx``): held-out sequences of exactly 16,384
tokens from documents at least that long, mean loss per position bucket; the copy probe (a
64-token span repeated at distances up to 16K); passkeys; and the short-document loss per domain
on held-out 2,048-token sequences with document masks. Results go to ``--out/results.json`` and a
table to stdout and ``--out/table.md``; loss-by-position PNG to ``--out/loss_by_position.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from midtrain.corpus import Manifest  # noqa: E402
from midtrain.corpus.lengths import document_lengths  # noqa: E402
from midtrain.loaders import build_loader  # noqa: E402
from midtrain.loaders.rope import apply_rope  # noqa: E402
from midtrain.mixers import load_schedule  # noqa: E402

FULL = dict(model=(512, 8, 8, 1376), base_len=2048, long_len=16384, step_tokens=1 << 17, base_tokens=80_000_000,
            arm_tokens=12_000_000, base_budget=230.0, arm_budget=38.0, eval_long=8, eval_short_batches=6,
            lr=1e-3, arm_lr=3e-4, theta_base=1e4, theta_long=5e5, copy_distances=None, passkeys=8, device="cuda")
DRY = dict(model=(32, 2, 2, 64), base_len=64, long_len=512, step_tokens=2048, base_tokens=40_960,
           arm_tokens=8_192, base_budget=60.0, arm_budget=20.0, eval_long=2, eval_short_batches=2,
           lr=1e-3, arm_lr=3e-4, theta_base=1e4, theta_long=5e5, copy_distances=(64, 128, 256), passkeys=0,
           device="cpu")


def natural(lengths: dict[str, np.ndarray]) -> dict[str, float]:
    total = sum(float(v.sum()) for v in lengths.values())
    w = {d: float(v.sum()) / total for d, v in lengths.items()}
    top = max(w, key=w.get)
    w[top] = 1.0 - sum(x for d, x in w.items() if d != top)
    return w


def upweighted(w: dict[str, float], domain: str, share: float) -> dict[str, float]:
    rest = sum(x for d, x in w.items() if d != domain)
    out = {d: (x / rest * (1 - share) if d != domain else share) for d, x in w.items()}
    top = max(out, key=out.get)
    out[top] = 1.0 - sum(x for d, x in out.items() if d != top)
    return out


def build_model(cfg: dict, vocab: int, device: torch.device):
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, inter = cfg["model"]
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=heads, intermediate_size=inter, max_position_embeddings=cfg["long_len"],
                         tie_word_embeddings=False, rope_parameters={"rope_type": "default",
                                                                      "rope_theta": cfg["theta_base"]})
    config._attn_implementation = "flex_attention" if device.type == "cuda" else "sdpa"
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(device)
    return model.to(torch.bfloat16) if device.type == "cuda" else model


def attention_mask(document_ids: torch.Tensor, flex: bool):
    """Causal attention inside each scope of ``document_ids`` (-1 padding: its own scope)."""
    B, L = document_ids.shape
    doc = document_ids
    if flex:
        from torch.nn.attention.flex_attention import create_block_mask

        def mask_mod(b, h, q, k):
            return (doc[b, q] == doc[b, k]) & (q >= k)

        return create_block_mask(mask_mod, B, None, L, L, device=doc.device)
    causal = torch.ones(L, L, dtype=torch.bool, device=doc.device).tril()
    return ((doc[:, :, None] == doc[:, None, :]) & causal)[:, None]


def train(model, corpus: Path, schedule: dict, *, cfg: dict, seq_len: int, tokens: int, budget: float, lr: float,
          doc_mask: str, device: torch.device, label: str) -> dict:
    """Train ``model`` in place on ``schedule`` for ``tokens`` or ``budget`` seconds; what it did."""
    sched = load_schedule(schedule)
    loader = build_loader(corpus, sched, seq_len=seq_len, batch_size=cfg["step_tokens"] // seq_len, seed=0,
                          num_workers=2 if device.type == "cuda" else 0, compact=True, doc_mask=doc_mask,
                          mask_cross_document_labels=doc_mask == "document", pin_memory=device.type == "cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    flex = model.config._attn_implementation == "flex_attention"
    model.train()
    target = max(1, tokens // cfg["step_tokens"])
    warm = max(1, min(20, target // 10))
    steps, rope, losses, t0 = target, None, [], time.perf_counter()
    step = 0
    for batch in loader:
        if batch["rope"] != rope:
            rope = batch["rope"]
            apply_rope(model, rope)
        if step == warm:
            t_warm = time.perf_counter()
        if step == 2 * warm:  # the throughput after the warm-up (compilation) decides how many steps fit
            rate = (time.perf_counter() - t_warm) / warm
            steps = max(step + 1, min(target, step + int((budget - (time.perf_counter() - t0)) / rate)))
        frac = min(1.0, (step - warm) / max(1, steps - warm)) if step >= warm else 0.0
        cur = lr * (step + 1) / warm if step < warm else lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = cur
        ids = batch["input_ids"].to(device, non_blocking=True).long()
        labels = batch["labels"].to(device, non_blocking=True).long()
        pos = batch["position_ids"].to(device, non_blocking=True).long()
        mask = attention_mask(batch["document_ids"].to(device, non_blocking=True), flex)
        logits = model(input_ids=ids, position_ids=pos, attention_mask=mask).logits
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        step += 1
        if step >= steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    out = {"arm": label, "steps": step, "tokens": step * cfg["step_tokens"], "target_tokens": tokens,
           "seconds": round(wall, 1), "tokens_per_s": round(step * cfg["step_tokens"] / wall),
           "final_train_loss": round(float(np.mean(losses[-5:])), 4), "rope": rope}
    print(json.dumps(out), flush=True)
    return out


@torch.inference_mode()
def short_loss(model, corpus: Path, domains: list[str], *, cfg: dict, device: torch.device) -> dict[str, float]:
    """Held-out loss per domain on 2,048-token sequences with document masks (first batches of a
    fixed-seed loader, one domain at a time)."""
    model.eval()
    flex = model.config._attn_implementation == "flex_attention"
    out = {}
    for d in domains:
        loader = build_loader(corpus, {"domains": [d], "weights": {d: 1.0}}, seq_len=cfg["base_len"],
                              batch_size=max(1, cfg["step_tokens"] // cfg["base_len"] // 4), seed=123, compact=True)
        total = count = 0.0
        for _, batch in zip(range(cfg["eval_short_batches"]), loader):
            ids = batch["input_ids"].to(device).long()
            labels = batch["labels"].to(device).long()
            mask = attention_mask(batch["document_ids"].to(device), flex)
            logits = model(input_ids=ids, position_ids=batch["position_ids"].to(device).long(),
                           attention_mask=mask).logits
            loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100,
                                   reduction="sum")
            total += float(loss)
            count += float((labels != -100).sum())
        out[d] = round(total / max(count, 1), 4)
    model.train()
    return out


def long_eval(model, evaldir: Path, device: torch.device) -> dict:
    from midtrain.longctx.evaluate import evaluate_model

    previous = model.config._attn_implementation
    _set_attention(model, "sdpa")  # one document per sequence: plain causal attention
    try:
        res = evaluate_model(model, evaldir, device=device.type, batch_size=1)
    finally:
        _set_attention(model, previous)
        model.train()
    return res


def _set_attention(model, kind: str) -> None:
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(kind)
    else:
        model.config._attn_implementation = kind


def assemble_grouped(train_c: Path, grouped_c: Path, out: Path) -> Path | None:
    """``train_c`` with its code shards replaced by ``grouped_c``'s (``None`` without ``grouped_c``)."""
    import os
    import shutil

    from midtrain.corpus.manifest import Manifest as M

    if not (grouped_c / "manifest.json").exists():
        return None
    if (out / "manifest.json").exists():
        return out
    train, grouped = M.read(train_c), M.read(grouped_c)
    shards = [s for s in train.shards if s.domain != "code"] + [s for s in grouped.shards if s.domain == "code"]
    for s in shards:
        src = (train_c if s in train.shards else grouped_c) / s.path
        dst = out / s.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    M(kind="token", shards=sorted(shards, key=lambda s: s.path), tokenizer=train.tokenizer,
      extra={"assembled_from": [str(train_c), str(grouped_c)]}).write(out)
    return out


def summarise(res: dict) -> dict:
    buckets = res["all"]["buckets"]
    out = {"loss": round(res["all"]["loss"], 4),
           "buckets": {f"{b['start']}-{b['end']}": round(b["loss"], 4) for b in buckets}}
    out["copy"] = {str(c["distance"]): round(c["loss"], 4) for c in res.get("copy", {}).get("by_distance", [])}
    if res.get("passkey"):
        out["passkey_accuracy"] = res["passkey"].get("accuracy")
    out["domains"] = {d: round(v["loss"], 4) for d, v in res["domains"].items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny model and lengths, every arm")
    p.add_argument("--arms", default="A0,A1,A2,A3,A4,A5")
    p.add_argument("--base-budget", type=float)
    p.add_argument("--arm-budget", type=float)
    p.add_argument("--stop-after", type=float, default=480.0,
                   help="seconds after which no further arm starts (the device allows 600 per command)")
    args = p.parse_args(argv)
    cfg = dict(DRY if args.dry_run else FULL)
    for key in ("base_budget", "arm_budget"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data
    if args.dry_run and data is None:
        data = make_dry_data(args.out / "data")
    device = torch.device(cfg["device"] if torch.cuda.is_available() or cfg["device"] == "cpu" else "cpu")
    train_c, held_c = data / "train_tokens", data / "heldout_tokens"
    grouped_c = assemble_grouped(train_c, data / "code_grouped_tokens", args.out / "a5_tokens")
    manifest = Manifest.read(train_c)
    vocab = (int((manifest.tokenizer or {}).get("vocab_size") or 65536) + 63) // 64 * 64
    lengths = {d: v for d, v in document_lengths(train_c).items() if len(v)}
    domains = sorted(lengths)
    w = natural(lengths)
    long_rich = max(domains, key=lambda d: float(np.median(lengths[d])))
    t_start = time.perf_counter()
    results: dict = {"config": {k: v for k, v in cfg.items()}, "weights": w, "long_rich": long_rich, "arms": {}}

    # held-out long evaluation set (documents >= long_len) and the short domains
    from midtrain.longctx.evalset import EvalSetConfig, build_eval_set

    evaldir = args.out / "evalset"
    tok = data / "tokenizer.json"
    ev_cfg = EvalSetConfig(seq_len=cfg["long_len"], per_domain=cfg["eval_long"],
                           copy_distances=cfg["copy_distances"], passkeys=cfg["passkeys"] if tok.exists() else 0)
    build_eval_set(held_c, evaldir, ev_cfg, tokenizer=str(tok) if tok.exists() and cfg["passkeys"] else None)

    model = build_model(cfg, vocab, device)
    base_schedule = {"domains": domains, "phases": [
        {"name": "base", "seq_len": cfg["base_len"], "tokens_per_step": cfg["step_tokens"], "weights": w}]}
    results["stage_a"] = train(model, train_c, base_schedule, cfg=cfg, seq_len=cfg["base_len"],
                               tokens=cfg["base_tokens"], budget=cfg["base_budget"], lr=cfg["lr"], doc_mask="document",
                               device=device, label="stage A")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    results["stage_a"]["short"] = short_loss(model, held_c, domains, cfg=cfg, device=device)
    arms = args.arms.split(",")
    if "A0" in arms:
        results["arms"]["A0 theta 1e4"] = {"eval": summarise(long_eval(model, evaldir, device)),
                                           "short": results["stage_a"]["short"]}
        apply_rope(model, {"theta": cfg["theta_long"]})
        results["arms"]["A0 theta 5e5"] = {"eval": summarise(long_eval(model, evaldir, device)),
                                           "short": short_loss(model, held_c, domains, cfg=cfg, device=device)}
        print(json.dumps({"A0": {k: v["eval"]["buckets"] for k, v in results["arms"].items()}}), flush=True)
    long_phase = {"name": "extend", "seq_len": cfg["long_len"], "tokens_per_step": cfg["step_tokens"],
                  "rope": {"theta": cfg["theta_long"]}}
    up = {"length_upsample": {"below": 4096 if not args.dry_run else 128, "keep": 0.1}}
    specs = {  # in order of value, in case the time guard stops the run early
        "A2 masks": (train_c, {**long_phase, "weights": w}, "document"),
        "A3 masks + upsampling": (train_c, {**long_phase, "weights": w, **up}, "document"),
        "A1 concat, no masks": (train_c, {**long_phase, "weights": w}, "none"),
        f"A4 masks + {long_rich} at 60%": (train_c, {**long_phase, "weights": upweighted(w, long_rich, 0.6)},
                                           "document"),
        "A5 = A3 with package code": (grouped_c or data / "code_grouped_tokens", {**long_phase, "weights": w, **up},
                                      "document"),
    }
    for name, (corpus, phase, doc_mask) in specs.items():
        if name.split()[0] not in arms:
            continue
        if not (corpus / "manifest.json").exists():
            results["arms"][name] = {"skipped": f"{corpus} missing"}
            continue
        if time.perf_counter() - t_start > args.stop_after:
            results["arms"][name] = {"skipped": f"time guard: {args.stop_after:.0f} s passed"}
            continue
        model.load_state_dict(state)
        apply_rope(model, {"theta": cfg["theta_base"]})
        trained = train(model, corpus, {"domains": domains, "phases": [phase]}, cfg=cfg, seq_len=cfg["long_len"],
                        tokens=cfg["arm_tokens"], budget=cfg["arm_budget"], lr=cfg["arm_lr"], doc_mask=doc_mask,
                        device=device, label=name)
        results["arms"][name] = {"train": trained, "eval": summarise(long_eval(model, evaldir, device)),
                                 "short": short_loss(model, held_c, domains, cfg=cfg, device=device)}
        print(json.dumps({name: results["arms"][name]["eval"]}), flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    table = format_table(results, domains)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    try:
        plot(results, args.out / "loss_by_position.png")
    except ImportError as exc:  # the device image may lack matplotlib: the table and JSON are the result
        print(f"no plot: {exc}")
    return 0


def format_table(results: dict, domains: list[str]) -> str:
    base_short = results["stage_a"]["short"]
    arms = {k: v for k, v in results["arms"].items() if "eval" in v}
    if not arms:
        return "no arm evaluated"
    buckets = list(next(iter(arms.values()))["eval"]["buckets"])
    copies = list(next(iter(arms.values()))["eval"]["copy"])
    head = ["arm", "tokens", *[f"loss {b}" for b in buckets], "tail − head", *[f"copy@{c}" for c in copies],
            *[f"short {d} (Δ%)" for d in domains]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, arm in arms.items():
        b = arm["eval"]["buckets"]
        vals = list(b.values())
        short = [f"{arm['short'][d]:.3f} ({100 * (arm['short'][d] / base_short[d] - 1):+.1f})" for d in domains]
        row = [name, f"{arm.get('train', {}).get('tokens', 0) / 1e6:.1f}M", *[f"{v:.3f}" for v in vals],
               f"{vals[-1] - vals[0]:+.3f}", *[f"{arm['eval']['copy'][c]:.3f}" for c in copies], *short]
        lines.append("| " + " | ".join(row) + " |")
    a = results["stage_a"]
    lines.append(f"\nstage A: {a['tokens'] / 1e6:.1f}M tokens at {a['tokens_per_s']:,} tok/s; short loss "
                 + ", ".join(f"{d} {v:.3f}" for d, v in base_short.items()))
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, arm in results["arms"].items():
        if "eval" not in arm:
            continue
        b = arm["eval"]["buckets"]
        xs = [int(k.split("-")[0]) + (int(k.split("-")[1]) - int(k.split("-")[0])) / 2 for k in b]
        ax.plot(xs, list(b.values()), marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("position (bucket centre)")
    ax.set_ylabel("held-out loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def make_dry_data(root: Path) -> Path:
    """A tiny train/held-out token corpus with short web and long books, for --dry-run."""
    from midtrain.corpus import CorpusWriter

    rng = np.random.default_rng(0)
    for split, n in (("train_tokens", 60), ("heldout_tokens", 12), ("code_grouped_tokens", 20)):
        if (root / split / "manifest.json").exists():
            continue
        w = CorpusWriter(root / split, "token", tokenizer={"fingerprint": "dry", "name": "dry", "vocab_size": 512,
                                                           "bos_id": None, "eos_id": 0, "dtype": "uint16"})
        spec = {"web": (80, n * 4), "books": (2000, n // 3), "code": (300, n)}
        if split == "code_grouped_tokens":
            spec = {"code": (1500, n)}
        for d, (mean, count) in spec.items():
            lens = np.clip(rng.lognormal(np.log(mean), 0.8, count), 8, 20000).astype(np.int64)
            off = np.concatenate([[0], np.cumsum(lens)])
            toks = rng.integers(1, 512, int(off[-1])).astype(np.uint16)
            w.write_tokens(d, [f"{d}{i}" for i in range(count)], toks, off)
        w.finish()
    return root


if __name__ == "__main__":
    sys.exit(main())
