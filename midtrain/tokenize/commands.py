"""CLI of the tokenize stage: ``tokenize``, ``train-bpe``, ``export-megatron``, ``import-datatrove``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenize", help="text corpus -> memory-mappable token corpus",
                       description="Tokenize every document of a text corpus into a token corpus (one folder per "
                                   "domain, uint16 ids when the vocabulary fits). A rerun skips finished shards.")
    p.add_argument("text_corpus", metavar="CORPUS", help="text corpus folder (holding manifest.json) or URL (s3://...)")
    p.add_argument("--output", "-o", required=True, help="output token corpus folder or URL (s3://...)")
    p.add_argument("--tokenizer", required=True,
                   help="a Hugging Face tokenizer.json, or tiktoken:<encoding> (e.g. tiktoken:cl100k_base)")
    p.add_argument("--no-eos", dest="eos", action="store_false", help="do not append EOS to every document")
    p.add_argument("--bos", action="store_true", help="prepend BOS to every document")
    p.add_argument("--eos-token", help="the EOS token's text (default: found among the special tokens)")
    p.add_argument("--bos-token", help="the BOS token's text (default: found among the special tokens)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1, whose encoder threads use every core; it used to be one per "
                        "16 cores, still the faster choice on machines with more than 32 cores)")
    p.add_argument("--shard-tokens", type=int, help="token budget of an output shard (documents stay whole)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_url_options(p)
    p.set_defaults(func=_tokenize)

    p = sub.add_parser("train-bpe", help="train a small byte-level BPE tokenizer.json on a text corpus",
                       description="Train a deterministic byte-level BPE (special tokens <|endoftext|>, "
                                   "<|begin_of_text|>) on every document of a text corpus.")
    p.add_argument("text_corpus", metavar="CORPUS", help="text corpus folder")
    p.add_argument("--output", "-o", required=True, help="where to write tokenizer.json")
    p.add_argument("--vocab-size", type=int, default=16384, help="vocabulary size (default 16384: uint16 ids)")
    p.set_defaults(func=_train_bpe)

    p = sub.add_parser("export-megatron", help="token corpus -> Megatron-LM indexed dataset (.bin/.idx per domain)",
                       description="Write OUTPUT_<domain>.bin/.idx for every domain and print the "
                                   "--data-path blend (weights = token counts) for Megatron-LM or NeMo.")
    p.add_argument("token_corpus", metavar="CORPUS", help="token corpus folder")
    p.add_argument("--output", "-o", required=True, help="output path prefix, e.g. megatron/mix")
    p.set_defaults(func=_export_megatron)

    p = sub.add_parser("import-datatrove", help="datatrove's tokenized output (.ds/.ds.index) -> token corpus",
                       description="Convert every .ds file under FOLDER (with its .ds.index) into one domain of "
                                   "a midtrain token corpus.")
    p.add_argument("folder", metavar="FOLDER", help="folder of datatrove DocumentTokenizer output")
    p.add_argument("--output", "-o", required=True, help="output token corpus folder")
    p.add_argument("--domain", help="domain name (default: the folder's name)")
    p.add_argument("--tokenizer", help="the tokenizer datatrove used (tokenizer.json or tiktoken:<encoding>), "
                                       "for a real fingerprint and vocabulary size in the manifest")
    p.add_argument("--shard-tokens", type=int, help="token budget of an output shard")
    p.set_defaults(func=_import_datatrove)


def add_url_options(p: argparse.ArgumentParser) -> None:
    """``--work-dir`` and ``--overwrite``, for a corpus -> corpus command whose input or output may be a URL."""
    p.add_argument("--work-dir", metavar="DIR",
                   help="with a URL input or output: the local folder where the input is downloaded and the output "
                        "made before it is published (default $MIDTRAIN_WORK_DIR/<name>-<hash>, else "
                        "~/.cache/midtrain/work/...); kept after a failure so a rerun resumes")
    p.add_argument("--overwrite", action="store_true",
                   help="with a URL output: replace a corpus already published there (refused otherwise)")


def _tokenize(args: argparse.Namespace) -> int:
    from midtrain.tokenize.job import DEFAULT_SHARD_TOKENS, tokenize_corpus

    report = tokenize_corpus(args.text_corpus, args.output, args.tokenizer, eos=args.eos, bos=args.bos,
                             eos_token=args.eos_token, bos_token=args.bos_token, workers=args.workers,
                             shard_tokens=args.shard_tokens or DEFAULT_SHARD_TOKENS, progress=not args.quiet,
                             work_dir=args.work_dir, overwrite=args.overwrite)
    manifest = report.manifest
    _print_domains(manifest.domains)
    print(f"ok: {args.output} ({manifest.tokenizer['name']}, {manifest.tokenizer['dtype']}, "
          f"{manifest.extra['empty_documents_skipped']} empty documents skipped)")
    return 0


def _train_bpe(args: argparse.Namespace) -> int:
    from midtrain.tokenize.bpe import train_bpe

    print(f"ok: {train_bpe(args.text_corpus, args.output, vocab_size=args.vocab_size).output}")
    return 0


def _export_megatron(args: argparse.Namespace) -> int:
    from midtrain.tokenize.megatron import export_megatron

    export = export_megatron(args.token_corpus, args.output)
    for domain, prefix in export.prefixes.items():
        print(f"{domain:<12} {prefix}.bin / .idx")
    print(f"--data-path {export.data_path}")
    return 0


def _import_datatrove(args: argparse.Namespace) -> int:
    from midtrain.tokenize.datatrove import import_datatrove
    from midtrain.tokenize.job import DEFAULT_SHARD_TOKENS

    report = import_datatrove(args.folder, args.output, domain=args.domain, tokenizer=args.tokenizer,
                              shard_tokens=args.shard_tokens or DEFAULT_SHARD_TOKENS)
    _print_domains(report.manifest.domains)
    print(f"ok: {args.output}")
    return 0


def _print_domains(domains: dict[str, dict[str, int]]) -> None:
    for domain, t in domains.items():
        print(f"{domain:<12} {t['rows']:>10,} documents {t['tokens']:>14,} tokens  {t['shards']} shard(s)")
