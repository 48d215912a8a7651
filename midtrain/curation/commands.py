"""CLI of curation: ``midtrain curate`` and ``midtrain refilter``, and the options every run command shares.

``--workers N`` (parallel tasks), ``--executor local|ray|slurm`` and ``--quiet`` (no progress)
mean the same in ``curate``, ``dedup`` and ``decontaminate``: :func:`add_run_options` adds them.
``curate`` and ``refilter`` take URLs (``s3://...``) for inputs and ``--output``; a URL output is
built in a local ``--work-dir`` and published with its manifest last.
"""

from __future__ import annotations

import argparse

EXECUTORS = ("local", "ray", "slurm")


def add_run_options(p: argparse.ArgumentParser, *, from_config: bool = False) -> None:
    """``--workers``, ``--executor`` and ``--quiet``; ``from_config``: absent flags leave the config's values."""
    if from_config:
        p.add_argument("--workers", type=int, help="tasks run at the same time (default: the config's, else 1)")
        p.add_argument("--executor", choices=EXECUTORS, help="where tasks run (default: the config's, else local)")
    else:
        p.add_argument("--workers", type=int, default=1, help="tasks run at the same time (default 1)")
        p.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="where tasks run (default local; slurm is refused where the steps must run in turn)")
    p.add_argument("--quiet", action="store_true", help="no progress lines and no datatrove task logs")


def quiet_logs() -> None:
    """Show only datatrove's warnings and errors (it logs every task at INFO)."""
    from loguru import logger

    logger.remove()
    logger.add(lambda m: print(m, end=""), level="WARNING")


WORK_DIR_HELP = ("with an --output URL: the local folder where the corpus is built before it is published "
                 "(default: $MIDTRAIN_WORK_DIR/<name>-<hash> or ~/.cache/midtrain/work/<name>-<hash>); rerun "
                 "the same command to resume. On a multi-node Ray cluster it must be on a shared file system")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "curate", help="raw documents -> a curated text corpus (local, Ray or Slurm)",
        description="Read JSONL (.gz/.zst), Parquet, Arrow, Hugging Face datasets or folders of plain files, tag "
                    "every document with the pipeline's signals, reject by threshold, and write a text corpus with "
                    "rejected/ documents, manifest.json, report.json, report.md and funnel.png. Rerun the same "
                    "command to resume an interrupted job.")
    p.add_argument("inputs", nargs="*", metavar="INPUT[=DOMAIN]",
                   help="a file, folder, URL or URL glob (s3://bucket/raw/*.jsonl.gz), or "
                        "hf:PATH?data_files=...&split=..., with an optional domain hint")
    p.add_argument("--output", "-o", required=True, help="output corpus folder or URL (s3://bucket/curated)")
    p.add_argument("--work-dir", help=WORK_DIR_HELP)
    p.add_argument("--config", help="YAML pipeline file (inputs, pipeline, executor, output, dedup, decontaminate)")
    add_run_options(p, from_config=True)
    p.add_argument("--text-field", help="record field holding the text, for inputs given here (default: text)")
    p.add_argument("--id-field", help="record field holding a unique id, for inputs given here (default: id)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier curate output in --output (for a URL: a corpus already there)")
    p.set_defaults(func=_curate)

    p = sub.add_parser(
        "refilter", help="re-apply rule thresholds to a curated corpus from its stored signals",
        description="Re-decide the threshold rules over the kept and threshold-rejected documents of CORPUS, "
                    "from the signal columns stored in its shards (nothing is recomputed), into a new corpus.")
    p.add_argument("corpus", metavar="CORPUS", help="a corpus written by midtrain curate (a folder or a URL)")
    p.add_argument("--output", "-o", required=True, help="new corpus folder or URL")
    p.add_argument("--work-dir", help=WORK_DIR_HELP)
    p.add_argument("--overwrite", action="store_true", help="with an --output URL: replace a corpus already there")
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
    if args.quiet:
        quiet_logs()
    report = curate(specs, args.output, args.config, workers=args.workers, executor=args.executor,
                    overwrite=args.overwrite, progress=not args.quiet, work_dir=args.work_dir)
    if report is not None:
        print(f"report: {args.output.rstrip('/')}/report.md (and report.json, funnel.png)")
        return 0 if report.balanced else 1
    return 0


def _refilter(args: argparse.Namespace) -> int:
    from midtrain.curation.refiltering import parse_overrides, refilter, thresholds_from_file

    thresholds = thresholds_from_file(args.config) if args.config else parse_overrides(args.overrides)
    report = refilter(args.corpus, args.output, thresholds, overwrite=args.overwrite, work_dir=args.work_dir)
    print(f"refilter: {report.one_line()}")
    print(f"report: {args.output.rstrip('/')}/report.md")
    return 0 if report.balanced else 1
