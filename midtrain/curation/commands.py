"""CLI of the curation stage: ``midtrain curate`` and ``midtrain refilter``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "curate", help="raw documents -> a curated text corpus (local, Ray or Slurm)",
        description="Read JSONL (.gz/.zst), Parquet, Arrow, Hugging Face datasets or folders of plain files, tag "
                    "every document with the pipeline's signals, reject by threshold, and write a text corpus with "
                    "rejected/ documents, manifest.json, report.json, report.md and funnel.png. Rerun the same "
                    "command to resume an interrupted job.")
    p.add_argument("inputs", nargs="*", metavar="INPUT[=DOMAIN]",
                   help="a file or folder (or hf:PATH?data_files=...&split=...), with an optional domain hint")
    p.add_argument("--output", "-o", required=True, help="output corpus folder")
    p.add_argument("--config", help="YAML pipeline file (inputs, pipeline, executor, output, dedup, decontaminate)")
    p.add_argument("--workers", type=int, help="tasks run at the same time (default: the config's, else 1)")
    p.add_argument("--executor", choices=["local", "ray", "slurm"], help="where tasks run (default: local)")
    p.add_argument("--text-field", help="record field holding the text, for inputs given here (default: text)")
    p.add_argument("--id-field", help="record field holding a unique id, for inputs given here (default: id)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier curate output in --output")
    p.set_defaults(func=_curate)

    p = sub.add_parser(
        "refilter", help="re-apply rule thresholds to a curated corpus from its stored signals",
        description="Re-decide the threshold rules over the kept and threshold-rejected documents of CORPUS, "
                    "from the signal columns stored in its shards (nothing is recomputed), into a new corpus.")
    p.add_argument("corpus", help="a corpus written by midtrain curate")
    p.add_argument("--output", "-o", required=True, help="new corpus folder")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--config", help="YAML file: a curate config (its thresholds step) or a thresholds mapping")
    group.add_argument("--set", dest="overrides", action="append", default=[], metavar="RULE.PARAM=VALUE",
                       help="override one threshold, e.g. gopher_quality.min_doc_words=30 (repeatable)")
    p.set_defaults(func=_refilter)


def _curate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from midtrain.curation.inputs import parse_input_arg
    from midtrain.curation.job import curate

    specs = [parse_input_arg(a) for a in args.inputs]
    if args.text_field:
        specs = [replace(s, text_field=args.text_field) for s in specs]
    if args.id_field:
        specs = [replace(s, id_field=args.id_field) for s in specs]
    report = curate(specs, args.output, args.config, workers=args.workers, executor=args.executor,
                    overwrite=args.overwrite, echo=print)
    if report is not None:
        print(f"report: {args.output}/report.md (and report.json, funnel.png)")
        return 0 if report.balanced else 1
    return 0


def _refilter(args: argparse.Namespace) -> int:
    from midtrain.curation.refiltering import parse_overrides, refilter, thresholds_from_file

    thresholds = thresholds_from_file(args.config) if args.config else parse_overrides(args.overrides)
    report = refilter(args.corpus, args.output, thresholds)
    print(f"refilter: {report.one_line()}")
    print(f"report: {args.output}/report.md")
    return 0 if report.balanced else 1
