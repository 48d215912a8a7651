"""CLI: ``midtrain longctx-synth`` (the synthetic long-context domain) and ``midtrain longctx-eval build | run``.

Handlers import numpy, torch and the tokenizers only when they run, so ``midtrain --help`` stays light.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    _register_synth(sub)
    p = sub.add_parser("longctx-eval", help="long-context evaluation: build fixed sequences, score a model",
                       description="Build held-out sequences of exactly L tokens (documents ≥ L per domain, a copy "
                                   "probe, passkeys), then score a model: loss per position bucket and domain, copy "
                                   "loss by distance, passkey accuracy, and a PNG. See docs/long-context.md.")
    steps = p.add_subparsers(dest="longctx_command", metavar="STEP")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    _register_build(steps)
    _register_run(steps)


def _register_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("longctx-synth", help="build the synthetic long-context domain from a text corpus",
                       description="Write a text corpus of one domain of long examples built from the corpus's own "
                                   "documents: passkey and key-value retrieval hidden at a seeded depth, copy-back "
                                   "spans, and a document interleaved with chunks of its MinHash near neighbours. "
                                   "Each row carries answer_start/answer_end (character offsets of the answer, which "
                                   "ends the text). Documents of --exclude corpora are never used. Cap the domain at "
                                   "5-10%% of a phase in the schedule.")
    p.add_argument("corpus", metavar="TEXT_CORPUS", help="text corpus the examples are built from")
    p.add_argument("--output", "-o", required=True, metavar="OUT", help="output text corpus folder")
    p.add_argument("--lengths", required=True, type=_int_list, metavar="N[,N...]",
                   help="target length of the examples in approximate tokens (characters = N x --chars-per-token); "
                        "K = 1024, e.g. 4K,16K")
    p.add_argument("--count", type=int, default=100, help="examples per task and per length (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of every choice (default 0)")
    p.add_argument("--exclude", action="append", default=[], metavar="HELDOUT_CORPUS",
                   help="never use a document whose id or text (up to whitespace) is in this text or token corpus "
                        "(repeatable)")
    p.add_argument("--domain", default="synthetic", help="domain name of the rows (default synthetic)")
    p.add_argument("--tasks", default="passkey,kv_retrieval,copy_back,interleave",
                   help="comma-separated task kinds (default all four)")
    p.add_argument("--chars-per-token", type=float, default=4.0, help="characters per approximate token (default 4)")
    p.add_argument("--neighbour-threshold", type=float, default=0.1,
                   help="estimated Jaccard of word 2-grams for interleave distractors (default 0.1)")
    p.add_argument("--max-pool", type=int, default=200_000, help="documents read (a seeded sample; default 200000)")
    p.add_argument("--force", action="store_true", help="write over an existing output corpus")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_synth)


def _register_build(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("build", help="build an evaluation folder from a held-out token corpus",
                         description="Per domain, up to --per-domain documents of at least --seq-len tokens (seeded), "
                                     "cut to exactly --seq-len; copy probes and passkey probes. Writes int32 .npy "
                                     "arrays and evalset.json (last). A domain without a long enough document is "
                                     "reported.")
    p.add_argument("corpus", metavar="TOKEN_CORPUS", help="held-out token corpus")
    p.add_argument("--seq-len", required=True, type=_int, metavar="L", help="tokens per sequence (K = 1024)")
    p.add_argument("--per-domain", type=int, default=16, metavar="N", help="document sequences per domain (default 16)")
    p.add_argument("--output", "-o", required=True, metavar="EVALDIR", help="evaluation folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the choices (default 0)")
    p.add_argument("--window", choices=["start", "random"], default="start",
                   help="start: each document's first L tokens (default); random: a window at a seeded start")
    p.add_argument("--domains", type=lambda s: tuple(x for x in s.split(",") if x), help="comma-separated domains "
                                                                                          "(default all)")
    p.add_argument("--copy-span", type=int, default=64, help="tokens of the copied span (default 64)")
    p.add_argument("--copy-distances", type=_int_list, metavar="D[,D...]",
                   help="distances between the span's two starts (default 512,2K,8K and L - span, those that fit)")
    p.add_argument("--copy-per-distance", type=int, default=8, help="copy probes per distance (default 8)")
    p.add_argument("--passkeys", type=int, default=16, help="passkey probes; 0 for none (default 16)")
    p.add_argument("--tokenizer", help="tokenizer.json or tiktoken:<encoding> of the corpus (for passkeys, when the "
                                       "manifest does not name a file); its fingerprint must match")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_build)


def _register_run(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("run", help="score a model on an evaluation folder; results.json and a PNG",
                         description="Loss per position bucket and domain, copy-probe loss by distance, passkey "
                                     "accuracy (argmax over the answer tokens, exact match). Writes "
                                     "RESULTS/results.json and RESULTS/loss_by_position.png and prints the tables.")
    p.add_argument("evaldir", metavar="EVALDIR", help="folder written by `longctx-eval build`")
    p.add_argument("--model", required=True, metavar="HF_DIR_OR_CHECKPOINT",
                   help="Hugging Face model folder, or a torch.save file (module, or {config, state_dict})")
    p.add_argument("--output", "-o", required=True, metavar="RESULTS", help="folder for results.json and the PNG")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--attention", default="sdpa", help="transformers attn_implementation (default sdpa)")
    p.add_argument("--dtype", choices=["bfloat16", "float16", "float32"],
                   help="default: bfloat16 on cuda, float32 on cpu")
    p.add_argument("--batch-size", type=int, default=1, help="sequences per forward pass (default 1)")
    p.add_argument("--chunk", type=int, default=1024, help="positions per float32 logits slice (default 1024)")
    p.add_argument("--buckets", type=_int_list, default=None, metavar="E[,E...]",
                   help="bucket edges (default 0,2K,4K,8K,16K,32K, clipped to L)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    p.set_defaults(func=_run)


def _int(text: str) -> int:
    """``4096`` or ``4K`` (K = 1024)."""
    text = text.strip()
    try:
        return int(text[:-1]) * 1024 if text[-1:] in "kK" and text[:-1] else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(_int(x) for x in text.replace(" ", ",").split(",") if x)


def _synth(args: argparse.Namespace) -> int:
    from midtrain.longctx.neighbours import NeighbourConfig
    from midtrain.longctx.synthetic import SyntheticConfig, build_synthetic

    config = SyntheticConfig(lengths=args.lengths, count=args.count, seed=args.seed, domain=args.domain,
                             tasks=tuple(t for t in args.tasks.split(",") if t), chars_per_token=args.chars_per_token,
                             max_pool_documents=args.max_pool,
                             neighbours=NeighbourConfig(threshold=args.neighbour_threshold))
    report = build_synthetic(args.corpus, args.output, config, exclude=args.exclude, force=args.force)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
    il = report.interleave
    print(f"wrote {args.output}: {sum(report.rows.values())} rows ({rows}) in domain {config.domain}")
    print(f"pool: {report.pool_documents} documents; excluded as held out: {report.excluded_by_id} by id, "
          f"{report.excluded_by_text} by text")
    if "interleave" in config.tasks:
        print(f"interleave distractors: {il['neighbour']} from MinHash neighbours, {il['topped_up']} topped up with "
              f"random documents, {il['random_fallback']} random only (no neighbour); "
              f"{il['neighbour_pairs']} neighbour pairs")
    return 0


def _build(args: argparse.Namespace) -> int:
    from midtrain.longctx.evalset import EvalSetConfig, build_eval_set

    config = EvalSetConfig(seq_len=args.seq_len, per_domain=args.per_domain, seed=args.seed, window=args.window,
                           domains=args.domains, copy_span=args.copy_span, copy_distances=args.copy_distances,
                           copy_per_distance=args.copy_per_distance, passkeys=args.passkeys)
    ev = build_eval_set(args.corpus, args.output, config, tokenizer=args.tokenizer)
    summary = {"output": str(ev.path), "seq_len": ev.seq_len,
               "domains": {d: v["sequences"] for d, v in ev.meta["domains"].items()},
               "missing": ev.meta["missing"], "copy_probes": len(ev.meta["copy"]["probes"]),
               "passkeys": len(ev.meta["passkey"]["probes"]) if ev.meta["passkey"] else 0}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {ev.path}: seq_len {ev.seq_len}, " + ", ".join(f"{d} {n}" for d, n in summary["domains"].items())
              + f"; {summary['copy_probes']} copy probes, {summary['passkeys']} passkeys")
        for d, v in ev.meta["domains"].items():
            if v["sequences"] < v["requested"]:
                print(f"note: {d}: only {v['sequences']} of {v['requested']} documents have {ev.seq_len} tokens",
                      file=sys.stderr)
    for d, info in ev.meta["missing"].items():
        print(f"warning: {d}: no document of {ev.seq_len} tokens (longest {info['longest']}, "
              f"{info['documents']} documents); left out", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from midtrain.longctx.evaluate import DEFAULT_BUCKETS, format_results, results_json, run_eval

    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    results = run_eval(args.evaldir, args.model, args.output, device=device, attention=args.attention,
                       batch_size=args.batch_size, buckets=args.buckets or DEFAULT_BUCKETS, chunk=args.chunk,
                       dtype=args.dtype)
    print(results_json(results).decode() if args.json else format_results(results))
    return 0
