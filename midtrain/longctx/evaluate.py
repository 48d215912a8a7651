"""Scoring a causal language model on a long-context evaluation set: loss by position, copy, passkey.

Everything here is model-agnostic. A :data:`TokenScorer` maps ``input_ids [B, L]`` to per-token
losses and hits ``[B, L]``: position ``p`` holds ``−log P(x_p | x_<p)`` and whether the argmax
at ``p − 1`` was ``x_p``; position 0 predicts nothing (NaN, False). Two scorers are provided:

- :func:`model_scorer` for a Hugging Face causal LM: one forward pass of the base model for the
  hidden states, then the output head on slices of ``chunk`` positions with the logits of a slice
  in float32, so a 32K sequence never holds ``[B, L, V]`` float32 logits (at a 128K vocabulary that
  would be 16 GiB per sequence; a 1,024-position slice is 0.5 GiB);
- :func:`logits_scorer` for any callable ``logits_fn(input_ids) -> logits [B, L, V]``; the
  cross-entropy is again computed per slice in float32.

:func:`score_eval_set` runs a scorer over an :class:`~midtrain.longctx.evalset.EvalSet` and returns
the results dict (mean loss per position bucket and per domain, the copy probe by distance,
passkey accuracy); :func:`evaluate_model` does the same for an in-memory model and a folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midtrain.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from midtrain.longctx.evalset import EvalSet

TokenScorer = Callable[["torch.Tensor"], "tuple[torch.Tensor, torch.Tensor]"]
"""``input_ids [B, L]`` (int64, on the model's device) -> ``(losses [B, L] float32, hits [B, L] bool)``."""
DEFAULT_BUCKETS = (0, 2048, 4096, 8192, 16384, 32768)
"""Bucket edges in positions: [0, 2K) [2K, 4K) [4K, 8K) [8K, 16K) [16K, 32K), clipped to ``seq_len``."""
DEFAULT_CHUNK = 1024
CURVE_POINTS = 64
"""Points of the loss-by-position curve (each the mean over ``seq_len / 64`` positions)."""
PASSKEY_DEPTH_BINS = 5


def bucket_edges(seq_len: int, edges: Sequence[int] = DEFAULT_BUCKETS) -> list[tuple[int, int]]:
    """``[(start, end)]`` of the buckets inside ``[0, seq_len)``: edges below ``seq_len``, then ``seq_len``."""
    inner = sorted({int(e) for e in edges if 0 <= int(e) < seq_len} | {0})
    bounds = inner + [seq_len]
    return list(zip(bounds[:-1], bounds[1:]))


def position_bucket_losses(token_losses, buckets: Sequence[tuple[int, int]] | Sequence[int] = DEFAULT_BUCKETS
                           ) -> list[dict[str, float | int]]:
    """Mean loss of the tokens in each position bucket of ``token_losses`` ``[N, L]`` (NaN = not scored).

    ``buckets`` is a list of ``(start, end)`` pairs or of edges (clipped to ``L`` by
    :func:`bucket_edges`). Every scored token weighs the same, so a bucket's loss is the mean over
    all sequences and positions in it. Returns ``[{"start", "end", "loss", "tokens"}]``.
    """
    losses = np.asarray(token_losses.detach().cpu() if hasattr(token_losses, "detach") else token_losses,
                        dtype=np.float64)
    losses = losses.reshape(-1, losses.shape[-1])
    scored = ~np.isnan(losses)
    return _buckets(np.where(scored, losses, 0.0).sum(0), scored.sum(0), _as_pairs(buckets, losses.shape[-1]))


def _as_pairs(buckets, seq_len: int) -> list[tuple[int, int]]:
    if buckets and isinstance(buckets[0], (tuple, list)):
        return [(int(a), min(int(b), seq_len)) for a, b in buckets if int(a) < seq_len]
    return bucket_edges(seq_len, buckets)


def _buckets(sums: np.ndarray, counts: np.ndarray, pairs: list[tuple[int, int]]) -> list[dict[str, float | int]]:
    out = []
    for a, b in pairs:
        n = int(counts[a:b].sum())
        out.append({"start": a, "end": b, "loss": float(sums[a:b].sum() / n) if n else math.nan, "tokens": n})
    return out


def losses_from_logits(logits: torch.Tensor, input_ids: torch.Tensor, *, chunk: int = DEFAULT_CHUNK,
                       head: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token losses and hits from logits ``[B, L, V]`` (or hidden states with ``head``), ``chunk``
    positions at a time in float32."""
    import torch
    import torch.nn.functional as F

    B, L = input_ids.shape
    losses = torch.full((B, L), math.nan, dtype=torch.float32, device=input_ids.device)
    hits = torch.zeros((B, L), dtype=torch.bool, device=input_ids.device)
    for a in range(0, L - 1, chunk):
        b = min(a + chunk, L - 1)
        piece = logits[:, a:b]
        piece = (head(piece) if head is not None else piece).float()
        target = input_ids[:, a + 1:b + 1]
        losses[:, a + 1:b + 1] = F.cross_entropy(piece.reshape(-1, piece.shape[-1]), target.reshape(-1),
                                                 reduction="none").view(B, b - a)
        hits[:, a + 1:b + 1] = piece.argmax(-1) == target
        del piece
    return losses, hits


def logits_scorer(logits_fn: Callable[[torch.Tensor], torch.Tensor], *, chunk: int = DEFAULT_CHUNK) -> TokenScorer:
    """A scorer from any ``logits_fn(input_ids [B, L]) -> logits [B, L, V]`` (or an object with ``.logits``)."""

    def score(input_ids):
        out = logits_fn(input_ids)
        return losses_from_logits(getattr(out, "logits", out), input_ids, chunk=chunk)

    return score


def model_scorer(model, *, chunk: int = DEFAULT_CHUNK) -> TokenScorer:
    """A scorer for a Hugging Face causal LM whose logits are ``lm_head(last hidden state)`` (Llama,
    Qwen, Mistral, OLMo, ...): the head runs per slice, so full-length logits never exist. Gemma-style
    final logit soft-capping is applied; a model with any other logit transform: use
    :func:`logits_scorer`."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    base = getattr(model, "base_model", None)
    if head is None or base is None or base is model:
        return logits_scorer(lambda ids: model(input_ids=ids), chunk=chunk)
    cap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)

    def apply_head(hidden):
        import torch

        logits = head(hidden)
        if cap:
            logits = torch.tanh(logits.float() / cap) * cap
        return logits

    def score(input_ids):
        hidden = base(input_ids=input_ids, use_cache=False).last_hidden_state
        return losses_from_logits(hidden, input_ids, chunk=chunk, head=apply_head)

    return score


def score_eval_set(scorer: TokenScorer, evalset: EvalSet | str | os.PathLike, *, device: str = "cuda",
                   batch_size: int = 1, buckets: Sequence[int] = DEFAULT_BUCKETS) -> dict[str, Any]:
    """Score every sequence of ``evalset`` with ``scorer``; the results dict (see docs/long-context.md)."""
    import torch

    from midtrain.longctx.evalset import EvalSet, load_eval_set

    ev = evalset if isinstance(evalset, EvalSet) else load_eval_set(evalset)
    L = ev.seq_len
    pairs = bucket_edges(L, buckets)

    @torch.inference_mode()
    def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        losses, hits = [], []
        for a in range(0, len(rows), batch_size):
            ids = torch.from_numpy(rows[a:a + batch_size].astype(np.int64)).to(device)
            loss, hit = scorer(ids)
            losses.append(loss.float().cpu().numpy())
            hits.append(hit.cpu().numpy())
        return np.concatenate(losses), np.concatenate(hits)

    results: dict[str, Any] = {"seq_len": L, "buckets": [list(p) for p in pairs], "domains": {},
                               "missing_domains": ev.meta.get("missing", {})}
    total_sums = np.zeros(L)
    total_counts = np.zeros(L, np.int64)
    curve_bin = max(1, math.ceil(L / CURVE_POINTS))
    curve: dict[str, list[float]] = {}
    for d in ev.domains:
        losses, _ = run(ev.sequences(d))
        scored = ~np.isnan(losses)
        sums, counts = np.where(scored, losses, 0.0).sum(0), scored.sum(0)
        total_sums += sums
        total_counts += counts
        info = ev.meta["domains"][d]
        results["domains"][d] = {"sequences": int(len(losses)), "requested": info["requested"],
                                 "loss": float(sums.sum() / max(counts.sum(), 1)),
                                 "buckets": _buckets(sums, counts, pairs)}
        curve[d] = _curve(sums, counts, curve_bin)
    if ev.domains:
        results["all"] = {"loss": float(total_sums.sum() / max(total_counts.sum(), 1)),
                          "buckets": _buckets(total_sums, total_counts, pairs)}
        curve["all"] = _curve(total_sums, total_counts, curve_bin)
    results["curve"] = {"bin": curve_bin, "positions": [min(a + curve_bin / 2, L) for a in range(0, L, curve_bin)],
                        "losses": curve}
    results["copy"] = _copy_results(ev, run)
    results["passkey"] = _passkey_results(ev, run) if ev.meta.get("passkey") else None
    return results


def _curve(sums: np.ndarray, counts: np.ndarray, size: int) -> list[float]:
    out = []
    for a in range(0, len(sums), size):
        n = counts[a:a + size].sum()
        out.append(float(sums[a:a + size].sum() / n) if n else math.nan)
    return out


def _copy_results(ev: EvalSet, run) -> dict[str, Any]:
    """Loss on the repeated span (its first token left out: nothing announces the repeat) by distance,
    beside the loss on the span's first occurrence (same tokens, no copy available)."""
    meta = ev.meta["copy"]
    losses, hits = run(ev.array(meta["file"]))
    span = int(meta["span"])
    by_distance: dict[int, dict[str, list[float]]] = {}
    for row, probe in enumerate(meta["probes"]):
        r, f = probe["repeat_start"], probe["first_start"]
        slot = by_distance.setdefault(probe["distance"], {"loss": [], "first": [], "acc": []})
        slot["loss"].append(float(np.mean(losses[row, r + 1:r + span])))
        slot["first"].append(float(np.nanmean(losses[row, f + 1:f + span])))
        slot["acc"].append(float(np.mean(hits[row, r + 1:r + span])))
    return {"span": span, "by_distance": [
        {"distance": d, "probes": len(v["loss"]), "loss": float(np.mean(v["loss"])),
         "first_loss": float(np.mean(v["first"])), "token_accuracy": float(np.mean(v["acc"]))}
        for d, v in sorted(by_distance.items())]}


def _passkey_results(ev: EvalSet, run) -> dict[str, Any]:
    """Exact match of the key: the argmax at every answer position is the answer token (teacher forced,
    which equals greedy decoding's verdict on the whole key)."""
    meta = ev.meta["passkey"]
    losses, hits = run(ev.array(meta["file"]))
    exact, loss, depth = [], [], []
    for row, probe in enumerate(meta["probes"]):
        a, n = probe["answer_start"], probe["answer_len"]
        exact.append(bool(hits[row, a:a + n].all()))
        loss.append(float(losses[row, a:a + n].mean()))
        depth.append(probe["depth"])
    exact_a, depth_a = np.array(exact), np.array(depth)
    bins = []
    for k in range(PASSKEY_DEPTH_BINS):
        lo, hi = k / PASSKEY_DEPTH_BINS, (k + 1) / PASSKEY_DEPTH_BINS
        inside = (depth_a >= lo) & ((depth_a < hi) if k < PASSKEY_DEPTH_BINS - 1 else (depth_a <= hi))
        bins.append({"depth": [lo, hi], "probes": int(inside.sum()),
                     "accuracy": float(exact_a[inside].mean()) if inside.any() else math.nan})
    return {"probes": len(exact), "accuracy": float(exact_a.mean()), "answer_loss": float(np.mean(loss)),
            "by_depth": bins, "exact": exact}


def evaluate_model(model, evaldir: EvalSet | str | os.PathLike, device: str = "cuda", batch_size: int = 1, *,
                   buckets: Sequence[int] = DEFAULT_BUCKETS, chunk: int = DEFAULT_CHUNK) -> dict[str, Any]:
    """Score an in-memory model (a Hugging Face causal LM, or any ``logits_fn(input_ids) -> logits``)
    on an evaluation folder. The model is put in eval mode and must already be on ``device``."""
    if hasattr(model, "eval"):
        model.eval()
    scorer = model_scorer(model, chunk=chunk) if hasattr(model, "get_output_embeddings") else \
        logits_scorer(model, chunk=chunk)
    return score_eval_set(scorer, evaldir, device=device, batch_size=batch_size, buckets=buckets)


def load_model(path: str | os.PathLike, *, device: str = "cuda", attention: str = "sdpa", dtype: str | None = None):
    """A causal LM from a Hugging Face folder (``config.json``), or a ``torch.save`` file holding the
    module itself or ``{"config": <dict with model_type>, "state_dict": ...}``. bfloat16 on CUDA,
    float32 on the CPU unless ``dtype`` says otherwise."""
    import torch

    path = Path(path)
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"--model {path}: no config.json; pass a Hugging Face model folder or a checkpoint file")
        model = _transformers(path).AutoModelForCausalLM.from_pretrained(path, attn_implementation=attention,
                                                                         dtype=torch_dtype)
    elif path.is_file():
        obj = torch.load(path, map_location="cpu", weights_only=False)
        if isinstance(obj, torch.nn.Module):
            model = obj
        elif isinstance(obj, dict) and "config" in obj and ("state_dict" in obj or "model" in obj):
            transformers = _transformers(path)
            raw = dict(obj["config"])
            config = transformers.AutoConfig.for_model(raw.pop("model_type"), **raw)
            config._attn_implementation = attention
            model = transformers.AutoModelForCausalLM.from_config(config)
            model.load_state_dict(obj.get("state_dict", obj.get("model")))
        else:
            raise ConfigError(f"--model {path}: a checkpoint must hold a module or {{'config', 'state_dict'}}")
    else:
        raise ConfigError(f"--model {path}: no such file or folder")
    return model.to(device=device, dtype=torch_dtype).eval()


def _transformers(path: Path):
    try:
        import transformers
    except ImportError:
        raise ConfigError(f"--model {path}: loading a Hugging Face model needs transformers "
                          "(pip install transformers)") from None
    return transformers


def run_eval(evaldir: str | os.PathLike, model_path: str | os.PathLike, output: str | os.PathLike, *,
             device: str = "cuda", attention: str = "sdpa", batch_size: int = 1,
             buckets: Sequence[int] = DEFAULT_BUCKETS, chunk: int = DEFAULT_CHUNK, dtype: str | None = None
             ) -> dict[str, Any]:
    """``midtrain longctx-eval run``: load the model, score, write ``results.json`` and
    ``loss_by_position.png`` into ``output`` (atomically), return the results."""
    from midtrain.corpus.manifest import atomic_write_bytes
    from midtrain.longctx.plot import plot_loss_by_position

    model = load_model(model_path, device=device, attention=attention, dtype=dtype)
    results = evaluate_model(model, evaldir, device, batch_size, buckets=buckets, chunk=chunk)
    results["model"] = str(model_path)
    out = Path(output)
    atomic_write_bytes(out / "results.json", results_json(results))
    plot_loss_by_position(results, out / "loss_by_position.png")
    return results


def results_json(results: dict[str, Any]) -> bytes:
    """``results`` as strict JSON (an empty bucket's NaN becomes null), keys sorted."""
    import json

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return (json.dumps(clean(results), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def format_results(results: dict[str, Any]) -> str:
    """The results as plain-text tables: loss by position bucket per domain, copy probe, passkey."""
    buckets = results["buckets"]
    names = [f"[{_k(a)},{_k(b)})" for a, b in buckets]
    width = max([len("domain")] + [len(d) for d in results["domains"]] + [3])
    lines = [f"loss by position (nats/token), seq_len {results['seq_len']}",
             f"{'domain':<{width}}  {'seqs':>4}  " + "  ".join(f"{n:>12}" for n in names) + f"  {'mean':>7}"]
    rows = list(results["domains"].items()) + ([("all", {**results["all"], "sequences": sum(
        v["sequences"] for v in results["domains"].values())})] if "all" in results else [])
    for name, v in rows:
        lines.append(f"{name:<{width}}  {v['sequences']:>4}  " + "  ".join(f"{b['loss']:>12.4f}" for b in v["buckets"])
                     + f"  {v['loss']:>7.4f}")
    for d, info in results.get("missing_domains", {}).items():
        lines.append(f"{d:<{width}}  none: no document of {results['seq_len']} tokens (longest {info['longest']})")
    copy = results.get("copy")
    if copy:
        lines += ["", f"copy probe ({copy['span']}-token span repeated; loss on the repeat, first token left out)",
                  f"{'distance':>8}  {'probes':>6}  {'loss':>7}  {'first':>7}  {'top1':>6}"]
        for c in copy["by_distance"]:
            lines.append(f"{c['distance']:>8}  {c['probes']:>6}  {c['loss']:>7.4f}  {c['first_loss']:>7.4f}  "
                         f"{c['token_accuracy']:>6.3f}")
    pk = results.get("passkey")
    if pk:
        lines += ["", f"passkey: accuracy {pk['accuracy']:.3f} over {pk['probes']} probes (answer loss "
                      f"{pk['answer_loss']:.4f}); by depth: " +
                  ", ".join(f"{b['depth'][0]:.1f}-{b['depth'][1]:.1f} {b['accuracy']:.2f}" for b in pk["by_depth"])]
    return "\n".join(lines)


def _k(n: int) -> str:
    return f"{n // 1024}K" if n and n % 1024 == 0 else str(n)
