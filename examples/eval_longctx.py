"""Evaluate a Hugging Face causal LM at long context: loss by position, copy probe, passkey accuracy.

    python examples/eval_longctx.py --model HF_DIR --corpus HELDOUT_TOKENS --seq-len 16K \\
        --evaldir EVAL --out RESULTS [--per-domain 8] [--tokenizer tokenizer.json] [--attention sdpa]

Builds EVAL from the held-out token corpus (documents of at least --seq-len tokens per domain, copy
and passkey probes) unless EVAL already holds an evaluation set of that length, scores the model,
prints the tables and writes RESULTS/results.json and RESULTS/loss_by_position.png. The same calls
work on a model already in memory: ``evaluate_model(model, EVAL, "cuda", batch_size=1)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from midtrain.corpus.manifest import atomic_write_bytes
from midtrain.longctx import (EvalSetConfig, build_eval_set, evaluate_model, format_results, load_eval_set,
                              load_model, plot_loss_by_position, results_json)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="Hugging Face model folder (or a torch.save checkpoint)")
    p.add_argument("--corpus", help="held-out token corpus (needed when EVAL does not exist yet)")
    p.add_argument("--seq-len", type=lambda s: int(s[:-1]) * 1024 if s[-1] in "kK" else int(s), default=16384)
    p.add_argument("--per-domain", type=int, default=8)
    p.add_argument("--passkeys", type=int, default=16, help="passkey probes (0: none, no tokenizer needed)")
    p.add_argument("--tokenizer", help="the corpus's tokenizer.json, for the passkey probes")
    p.add_argument("--evaldir", required=True)
    p.add_argument("--out", required=True, help="folder for results.json and loss_by_position.png")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--attention", default="sdpa", help="transformers attn_implementation")
    p.add_argument("--batch-size", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    evaldir = Path(args.evaldir)
    if (evaldir / "evalset.json").is_file() and load_eval_set(evaldir).seq_len == args.seq_len:
        evalset = load_eval_set(evaldir)
    else:
        if not args.corpus:
            raise SystemExit(f"{evaldir} holds no evaluation set of {args.seq_len} tokens: pass --corpus to build one")
        config = EvalSetConfig(seq_len=args.seq_len, per_domain=args.per_domain, passkeys=args.passkeys)
        evalset = build_eval_set(args.corpus, evaldir, config, tokenizer=args.tokenizer)
    model = load_model(args.model, device=args.device, attention=args.attention)
    results = evaluate_model(model, evalset, args.device, args.batch_size)
    print(format_results(results))
    out = Path(args.out)
    atomic_write_bytes(out / "results.json", results_json(results))
    plot_loss_by_position(results, out / "loss_by_position.png")
    print(f"wrote {out / 'results.json'} and {out / 'loss_by_position.png'}")
    return results


if __name__ == "__main__":
    main()
