"""CLI of the corpus-to-corpus stages on a text corpus: ``midtrain dedup``, ``decontaminate`` and ``group``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from midtrain.curation.commands import add_run_options, quiet_logs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="drop exact and near-duplicate documents (MinHash-LSH, verified)",
                       description="Deduplicate a text corpus: documents identical up to whitespace, and "
                                   "near-duplicates whose estimated Jaccard similarity of word n-grams is at "
                                   "least --threshold. Candidates from LSH band collisions are verified against "
                                   "the full signatures before they join a cluster; each cluster keeps its "
                                   "highest-quality document (then smallest id). Removed documents go to "
                                   "rejected/ with duplicate_of=<id>.")
    p.add_argument("corpus", metavar="CORPUS", help="input text corpus folder (with manifest.json) or URL (s3://...)")
    p.add_argument("--output", "-o", required=True, help="output corpus folder or URL (s3://...)")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity of duplicates (default 0.8)")
    p.add_argument("--ngram", type=int, default=5, help="words per shingle (default 5)")
    p.add_argument("--bands", type=int, default=16, help="LSH bands (default 16)")
    p.add_argument("--rows", type=int, default=8, help="signature slots per band (default 8)")
    p.add_argument("--num-perm", type=int, default=None, help="permutations (default bands × rows)")
    p.add_argument("--no-exact", action="store_true", help="skip exact (whitespace-folded) deduplication")
    p.add_argument("--no-fuzzy", action="store_true", help="skip near-duplicate (MinHash) deduplication")
    p.add_argument("--explain", action="store_true",
                   help="print the detection curve P = 1-(1-J^r)^b of bands × rows and the verification "
                        "odds before running")
    p.add_argument("--dry-run", action="store_true", help="with --explain: print and stop")
    p.add_argument("--against-index", metavar="DIR", help="also drop duplicates of an index built earlier")
    p.add_argument("--write-index", metavar="DIR", help="store the kept documents' signatures for later runs")
    _stage_options(p)
    p.set_defaults(func=_dedup)

    p = sub.add_parser("decontaminate", help="drop documents overlapping evaluation sets (n-grams)",
                       description="Find word n-grams (13 by default; Unicode and case folded, markup stripped, "
                                   "numbers masked) of evaluation items in a text corpus. A document whose score "
                                   "for an item (IDF-weighted share of the item's n-grams found, +0.25 with the "
                                   "answer near) reaches --min-score is dropped (rejected/ with "
                                   "contaminated=<set>:<item>) or, with --mode cut, loses the matched spans. "
                                   "Prints which items were found in which documents; --explain DOC_ID shows why.")
    p.add_argument("corpus", metavar="CORPUS", help="input text corpus folder (with manifest.json) or URL (s3://...)")
    p.add_argument("--against", nargs="+", required=True, metavar="[NAME=]SOURCE[:FIELD]",
                   help="evaluation sets: gsm8k, humaneval, aime2025, gpqa_diamond, champ, or a .jsonl[.gz], "
                        ".json, .parquet file or datasets folder; FIELD(s) joined by '+', or "
                        "FILE:question=F,answer=F,id=F")
    p.add_argument("--output", "-o", help="output corpus folder or URL (s3://...); not needed with --explain")
    p.add_argument("--min-score", type=float, default=0.5,
                   help="score from which an item contaminates a document (default 0.5)")
    p.add_argument("--explain", nargs="+", metavar="DOC_ID",
                   help="print why these documents of CORPUS (a local folder) are or are not cut, and stop")
    p.add_argument("--ngram", type=int, default=13, help="words per n-gram (default 13)")
    p.add_argument("--mode", choices=("drop", "cut"), default="drop", help="drop the document or cut the span")
    _stage_options(p)
    p.set_defaults(func=_decontaminate)

    p = sub.add_parser("group", help="one document per package (dependency order) or per chain of similar documents",
                       description="Group a text corpus into one document per group, the member ids kept in a "
                                   "'members' column. --by repo: ids are <package>/<relative path>; each package's "
                                   "files are concatenated in dependency order (Python, Go and C/C++ imports; "
                                   "smallest in-degree first, as DeepSeek-Coder), each after a '# path: <id>' "
                                   "header (// for C-like languages). --by similar: chains of near neighbours "
                                   "under MinHash-LSH at a low Jaccard threshold (In-Context Pretraining without "
                                   "embeddings). Writes group-report.json; see docs/grouping.md.")
    p.add_argument("corpus", metavar="CORPUS", help="input text corpus folder (with manifest.json) or URL (s3://...)")
    p.add_argument("--by", choices=("repo", "similar"), required=True, help="what forms a group")
    p.add_argument("--output", "-o", required=True, help="output corpus folder or URL (s3://...)")
    p.add_argument("--max-chars", type=int, default=None,
                   help="most characters per output document; repo: a longer package is cut into <package>#k parts")
    p.add_argument("--oversize", choices=("error", "alone"), default="error",
                   help="a single document longer than --max-chars: error (default) or a group of its own")
    p.add_argument("--package-depth", type=int, default=1,
                   help="repo: leading '/'-separated parts of the id that name the package (default 1)")
    p.add_argument("--max-docs", type=int, default=32, help="similar: most documents per group (default 32)")
    p.add_argument("--separator", default="\\n\\n",
                   help="similar: what joins two documents, backslash escapes read (default '\\n\\n')")
    p.add_argument("--threshold", type=float, default=0.3, help="similar: Jaccard of neighbours (default 0.3)")
    p.add_argument("--ngram", type=int, default=5, help="similar: words per shingle (default 5)")
    p.add_argument("--bands", type=int, default=50, help="similar: LSH bands (default 50)")
    p.add_argument("--rows", type=int, default=2, help="similar: signature slots per band (default 2)")
    p.add_argument("--num-perm", type=int, default=128, help="similar: permutations (default 128)")
    p.add_argument("--explain", action="store_true", help="similar: print the LSH detection curve before running")
    _stage_options(p)
    p.set_defaults(func=_group)


def _stage_options(p: argparse.ArgumentParser) -> None:
    from midtrain.tokenize.commands import add_url_options

    add_run_options(p)
    add_url_options(p)
    p.add_argument("--logging-dir", default=None, help="copy the datatrove logs and stats here")
    p.add_argument("--json", action="store_true", help="print the report as JSON (and no progress lines)")


def _run_stage(args: argparse.Namespace, run: Callable[[bool], Any]) -> dict[str, Any] | None:
    """Run a stage (``run(progress)``) and return its report as a dict, or print it as JSON and return None."""
    if args.quiet:
        quiet_logs()
    counts = run(not (args.quiet or args.json)).to_dict()
    if args.json:
        print(json.dumps(counts, indent=2))
        return None
    return counts


def _dedup(args: argparse.Namespace) -> int:
    from midtrain.curation.stages.dedup import DedupConfig, dedup_corpus, explain

    config = DedupConfig(threshold=args.threshold, ngram=args.ngram, bands=args.bands, rows=args.rows,
                         num_perm=args.num_perm, exact=not args.no_exact, fuzzy=not args.no_fuzzy)
    if args.explain:
        print(explain(config))
        if args.dry_run:
            return 0
        print()
    counts = _run_stage(args, lambda progress: dedup_corpus(
        args.corpus, args.output, config, executor=args.executor, workers=args.workers,
        logging_dir=args.logging_dir, against_index=args.against_index, write_index=args.write_index,
        progress=progress, work_dir=args.work_dir, overwrite=args.overwrite))
    if counts is None:
        return 0
    removed = counts["input"] - counts["kept"]
    print(f"dedup: {counts['input']} documents, kept {counts['kept']}, removed {removed}")
    for step, reasons in counts["rejected"].items():
        print(f"  {step}: {sum(reasons.values())}")
    lsh = counts["lsh"]
    print(f"  LSH candidate pairs {lsh['candidate_pairs']} (summed over bands), verified {lsh['verified_pairs']}, "
          f"rejected by verification {lsh['rejected_by_verification']}")
    print(f"output: {args.output}")
    return 0


def _decontaminate(args: argparse.Namespace) -> int:
    from midtrain.curation.stages.decontaminate import DecontConfig, EvalSet, decontaminate_corpus
    from midtrain.errors import ConfigError

    config = DecontConfig(against=tuple(EvalSet.parse(s) for s in args.against), ngram=args.ngram, mode=args.mode,
                          min_score=args.min_score)
    if args.explain:
        from midtrain.curation.stages.decontaminate.eval_sets import build_eval_index
        from midtrain.curation.stages.decontaminate.explain import explain_document, format_explanation

        index = build_eval_index(config)
        for doc_id in args.explain:
            print(format_explanation(doc_id, explain_document(args.corpus, doc_id, config, index=index), config))
        return 0
    if not args.output:
        raise ConfigError("decontaminate: --output is required (unless --explain DOC_ID)")
    counts = _run_stage(args, lambda progress: decontaminate_corpus(
        args.corpus, args.output, config, executor=args.executor, workers=args.workers,
        logging_dir=args.logging_dir, progress=progress, work_dir=args.work_dir, overwrite=args.overwrite))
    if counts is None:
        return 0
    dropped = counts["input"] - counts["kept"]
    print(f"decontaminate: {counts['input']} documents, dropped {dropped}, cut {counts['cut']}")
    for m in counts["matches"]:
        items = ", ".join(f"{i['set']}:{i['item']} (score {i['score']:.2f}, {i['rule']})" for i in m["items"])
        print(f"  {m['doc']}: {items} -> {m['action']}")
    for name, n in counts["unmatchable"].items():
        if n:
            print(f"  note: {n} item(s) of {name} cannot be matched (empty, fewer than "
                  f"{config.short_min_words} words, or no n-gram of enough content words)")
    print(f"output: {args.output}")
    return 0


def _group(args: argparse.Namespace) -> int:
    import codecs

    from midtrain.curation.stages.group import GroupConfig, group_corpus

    config = GroupConfig(group_by=args.by, max_chars=args.max_chars, oversize=args.oversize,
                         package_depth=args.package_depth, max_docs=args.max_docs,
                         separator=codecs.decode(args.separator, "unicode_escape"), threshold=args.threshold,
                         ngram=args.ngram, bands=args.bands, rows=args.rows, num_perm=args.num_perm)
    if args.explain and args.by == "similar":
        from midtrain.curation.stages.dedup import explain

        print(explain(config.minhash_config()))
        print()
    counts = _run_stage(args, lambda progress: group_corpus(
        args.corpus, args.output, config, executor=args.executor, workers=args.workers,
        logging_dir=args.logging_dir, progress=progress, work_dir=args.work_dir, overwrite=args.overwrite))
    if counts is None:
        return 0
    from midtrain.curation.stages.group import GroupReport

    print(GroupReport(**{k: v for k, v in counts.items() if k != "groups"}).one_line())
    print(f"output: {args.output} (report: {args.output}/group-report.json)")
    return 0
