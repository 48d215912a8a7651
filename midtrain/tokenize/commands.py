"""CLI of the tokenize stage: ``tokenize``, ``train-bpe``, ``export-megatron``, ``import-datatrove``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenize", help="text corpus -> memory-mappable token corpus",
                       description="Tokenize every document of a text corpus into a token corpus (one folder per "
                                   "domain, uint16 ids when the vocabulary fits). A rerun skips finished shards.")
    p.add_argument("text_corpus", help="text corpus folder (holding manifest.json)")
    p.add_argument("out", help="output token corpus folder")
    p.add_argument("--tokenizer", required=True,
                   help="a Hugging Face tokenizer.json, or tiktoken:<encoding> (e.g. tiktoken:cl100k_base)")
    p.add_argument("--no-eos", dest="eos", action="store_false", help="do not append EOS to every document")
    p.add_argument("--bos", action="store_true", help="prepend BOS to every document")
    p.add_argument("--eos-token", help="the EOS token's text (default: found among the special tokens)")
    p.add_argument("--bos-token", help="the BOS token's text (default: found among the special tokens)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per 16 cores)")
    p.add_argument("--shard-tokens", type=int, help="token budget of an output shard (documents stay whole)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_tokenize)

    p = sub.add_parser("train-bpe", help="train a small byte-level BPE tokenizer.json on a text corpus",
                       description="Train a deterministic byte-level BPE (special tokens <|endoftext|>, "
                                   "<|begin_of_text|>) on every document of a text corpus.")
    p.add_argument("text_corpus", help="text corpus folder")
    p.add_argument("out", help="where to write tokenizer.json")
    p.add_argument("--vocab-size", type=int, default=16384, help="vocabulary size (default 16384: uint16 ids)")
    p.set_defaults(func=_train_bpe)

    p = sub.add_parser("export-megatron", help="token corpus -> Megatron-LM indexed dataset (.bin/.idx per domain)",
                       description="Write OUT_PREFIX_<domain>.bin/.idx for every domain and print the "
                                   "--data-path blend (weights = token counts) for Megatron-LM or NeMo.")
    p.add_argument("token_corpus", help="token corpus folder")
    p.add_argument("out_prefix", help="output path prefix, e.g. megatron/mix")
    p.set_defaults(func=_export_megatron)

    p = sub.add_parser("import-datatrove", help="datatrove's tokenized output (.ds/.ds.index) -> token corpus",
                       description="Convert every .ds file under FOLDER (with its .ds.index) into one domain of "
                                   "a midtrain token corpus.")
    p.add_argument("folder", help="folder of datatrove DocumentTokenizer output")
    p.add_argument("out", help="output token corpus folder")
    p.add_argument("--domain", help="domain name (default: the folder's name)")
    p.add_argument("--tokenizer", help="the tokenizer datatrove used (tokenizer.json or tiktoken:<encoding>), "
                                       "for a real fingerprint and vocabulary size in the manifest")
    p.add_argument("--shard-tokens", type=int, help="token budget of an output shard")
    p.set_defaults(func=_import_datatrove)


def _tokenize(args: argparse.Namespace) -> int:
    from midtrain.tokenize import DEFAULT_SHARD_TOKENS, tokenize_corpus

    manifest = tokenize_corpus(args.text_corpus, args.out, args.tokenizer, eos=args.eos, bos=args.bos,
                               eos_token=args.eos_token, bos_token=args.bos_token, workers=args.workers,
                               shard_tokens=args.shard_tokens or DEFAULT_SHARD_TOKENS, progress=not args.quiet)
    for domain, t in manifest.domains.items():
        print(f"{domain:<12} {t['rows']:>10,} documents {t['tokens']:>14,} tokens  {t['shards']} shard(s)")
    print(f"ok: {args.out} ({manifest.tokenizer['name']}, {manifest.tokenizer['dtype']}, "
          f"{manifest.extra['empty_documents_skipped']} empty documents skipped)")
    return 0


def _train_bpe(args: argparse.Namespace) -> int:
    from midtrain.tokenize import train_bpe

    print(f"ok: {train_bpe(args.text_corpus, args.out, vocab_size=args.vocab_size)}")
    return 0


def _export_megatron(args: argparse.Namespace) -> int:
    from midtrain.tokenize.megatron import export_megatron, megatron_data_path

    prefixes = export_megatron(args.token_corpus, args.out_prefix)
    for domain, prefix in prefixes.items():
        print(f"{domain:<12} {prefix}.bin / .idx")
    print(f"--data-path {megatron_data_path(args.token_corpus, prefixes)}")
    return 0


def _import_datatrove(args: argparse.Namespace) -> int:
    from midtrain.tokenize import DEFAULT_SHARD_TOKENS, import_datatrove

    manifest = import_datatrove(args.folder, args.out, domain=args.domain, tokenizer=args.tokenizer,
                                shard_tokens=args.shard_tokens or DEFAULT_SHARD_TOKENS)
    for domain, t in manifest.domains.items():
        print(f"{domain:<12} {t['rows']:>10,} documents {t['tokens']:>14,} tokens  {t['shards']} shard(s)")
    print(f"ok: {args.out}")
    return 0
