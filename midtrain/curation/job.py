"""The ``curate`` job: plan the input, run the pipeline on an executor, merge, then corpus stages.

```
OUTPUT/
  manifest.json            written last: the corpus is complete
  data/<domain>/t<task>-<n>.arrow, rejected/<domain>/...
  report.json, report.md, funnel.png
  job/                     datatrove's logging dir (completions/, logs/, stats/) and ours:
    config.json            the job's fingerprint: a rerun must ask for the same job
    tasks/<task>.json      shards each task wrote;  reads/<task>.json  records it read
    invalid/<task>.jsonl   every invalid record with its file, line and parse error
```

With dedup or decontamination configured, the pipeline's corpus goes to ``stages/filter/``
and each stage writes the next corpus; the last one is ``OUTPUT`` itself. Rerunning the same
command after a crash or a kill skips finished tasks (datatrove's completion markers), and each
unfinished task deletes its partial shards before writing them again, so nothing is duplicated.

Inputs may be URLs (:mod:`midtrain.curation.inputs`). An ``OUTPUT`` URL (``s3://bucket/curated``)
is built in a local work folder (``work_dir``, else :func:`midtrain.storage.objects.work_dir_for`)
exactly as a local output, then published (:func:`publish`): shards, reports, and
``manifest.json`` last, so an interrupted publish leaves no manifest and rerunning the same command
finishes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from midtrain import __version__
from midtrain.corpus import CorpusError, Manifest, ShardInfo
from midtrain.curation.config import CurateConfig, load_config
from midtrain.curation.executors import build_executor, check_executor, run_executor
from midtrain.curation.inputs import InputSpec, describe_units, parse_input_arg, plan_units, resolve_spec
from midtrain.curation.report import CurationReport, build_report, merge_reads, write_report
from midtrain.curation.urls import is_url
from midtrain.errors import ConfigError, MidtrainError

JOB_DIR = "job"
MB = 1_000_000
REPORT_FILES = ("report.json", "report.md", "funnel.png", "label_audit.json")
"""Files beside the corpus that are published with it (those that exist)."""


def curate(inputs: Sequence[Any], output: str | os.PathLike, config: str | os.PathLike | dict | CurateConfig | None = None,
           *, workers: int | None = None, executor: str | None = None, overwrite: bool = False,
           progress: bool = False, work_dir: str | os.PathLike | None = None) -> CurationReport | None:
    """Curate ``inputs`` into the text corpus ``output`` and return its report.

    ``inputs`` are ``(path, domain or None)`` pairs, ``"PATH[=DOMAIN]"`` strings or
    :class:`InputSpec`; they add to the config's ``inputs``. ``workers`` and ``executor``
    (``local``, ``ray``, ``slurm``) override the config. Rerunning with the same arguments resumes
    an interrupted job. With Slurm the tasks are submitted and None is returned; rerun the same
    call once they have finished to merge the corpus and write the report. A corpus stage
    (``dedup:``, ``decontaminate:``) that cannot run on the executor is refused before any work.
    ``progress``: print a line per phase.

    Inputs and ``output`` may be URLs (``s3://...``, anything fsspec knows). A URL output is built in
    the local folder ``work_dir`` (default :func:`midtrain.storage.objects.work_dir_for`: under
    ``$MIDTRAIN_WORK_DIR`` or ``~/.cache/midtrain/work``, one folder per URL), which resumes like any
    output folder, then published with the manifest last; a URL that already holds a corpus is
    refused unless ``overwrite``. On a multi-node Ray cluster the work folder must be on a file
    system every node shares, as a local output must be.
    """
    say = print if progress else (lambda _msg: None)
    url = str(output) if is_url(str(output)) else None
    if url is not None:
        from midtrain.storage.objects import work_dir_for

        check_url_output(url, overwrite)
        output = work_dir_for(url, work_dir)
    cfg = load_config(config)
    exec_cfg = cfg.executor
    if workers is not None:
        exec_cfg = replace(exec_cfg, workers=workers)
    if executor is not None:
        exec_cfg = replace(exec_cfg, kind=executor)  # type: ignore[arg-type]
    check_executor(exec_cfg.kind, exec_cfg.workers, what="curate")
    for stage in cfg.stages():
        check_executor(exec_cfg.kind, exec_cfg.workers, supported=stage.executors, what=f"config.{stage.stage_name}")
    cfg = replace(cfg, executor=exec_cfg, inputs=[*cfg.inputs, *(_as_spec(i) for i in inputs)])
    if not cfg.inputs:
        raise ConfigError("inputs: no input given (pass PATH[=DOMAIN] arguments or list them under inputs:)")
    base = Path(cfg.base_dir) if cfg.base_dir else None
    specs = [resolve_spec(s, i, base) for i, s in enumerate(cfg.inputs)]
    units = plan_units(specs)

    out = Path(output)
    if url is not None:
        say(f"curate: output {url}, built in the work folder {out}")
    job_dir = out / JOB_DIR
    definition = _job_definition(cfg, specs, units)
    _claim_output(out, job_dir, definition, overwrite)

    from midtrain.curation.pipeline import build_steps, default_pipeline, reject_order, signal_columns
    from midtrain.curation.readers import ReadInputs
    from midtrain.curation.writers import WriteCorpus

    steps = build_steps(cfg.pipeline if cfg.pipeline is not None else default_pipeline())
    stages = cfg.stages()
    filter_dir = out / "stages" / "filter" if stages else out
    reader = ReadInputs(specs, units, str(job_dir))
    columns = signal_columns([reader, *steps])
    writer = WriteCorpus(str(filter_dir), str(job_dir), columns, shard_chars=int(cfg.output.shard_size_mb * MB))
    say(f"curate: {len(units)} task(s) from {len(specs)} input(s) on {exec_cfg.kind} "
        f"with {exec_cfg.workers} worker(s); job folder {job_dir}")

    ex = build_executor(exec_cfg, [reader, *steps, writer], tasks=len(units), logging_dir=str(job_dir))
    if not run_executor(ex, str(job_dir), "curate", submitted_ok=exec_cfg.kind == "slurm"):
        say(f"curate: submitted to Slurm; rerun the same command when the job has finished to merge {out}")
        return None

    reads = merge_reads(job_dir, len(units))
    order = reject_order(steps)
    finish_corpus(filter_dir, job_dir, len(units), {"curation": {"reads": reads, "reject_order": order,
                                                                  "fingerprint": definition["fingerprint"]}})
    final = filter_dir
    for i, stage in enumerate(stages):
        name = stage.stage_name
        target = out if i == len(stages) - 1 else out / "stages" / name
        say(f"curate: {name} stage -> {target}")
        stage_report = stage.run(final, target, exec_cfg, logging_dir=str(job_dir / name), progress=progress)
        order += [step for step in stage_report.rejected if step not in order] or [name]
        _carry_provenance(final, target, order)
        final = target
    if stages and not cfg.output.keep_stages:
        shutil.rmtree(out / "stages", ignore_errors=True)
    report = build_report(out)
    if url is not None:
        report = replace(report, output=url)
    write_report(report, out)
    if url is not None:
        say(f"curate: publishing {out} to {url}")
        publish(out, url, overwrite=overwrite)
    say(f"curate: {report.one_line()}")
    return report


def check_url_output(url: str, overwrite: bool) -> None:
    """Refuse an output URL that already holds a corpus (a ``manifest.json``) unless ``overwrite``."""
    from midtrain.curation.urls import join, remote_call
    from midtrain.storage.objects import filesystem

    manifest = join(url, "manifest.json")
    fs = filesystem(manifest)
    if not overwrite and remote_call("--output", manifest, "look up", lambda: fs.exists(manifest)):
        raise ConfigError(f"--output: {url} already holds a corpus (manifest.json); pass --overwrite to replace "
                          "it, or choose another URL")


def publish(local: Path, url: str, *, overwrite: bool = False) -> Manifest:
    """Upload the finished corpus folder ``local`` to ``url`` with
    :func:`midtrain.storage.upload.upload_corpus`: shards, reports, then the manifest, last.

    With ``overwrite``, a ``manifest.json`` already at ``url`` is deleted first (so that while shards
    are replaced no reader sees a manifest whose checksums no longer match), and so are the shards
    it listed that the new corpus does not have. Rerunning after an interrupted publish uploads
    everything again (each object is replaced whole).
    """
    from midtrain.corpus.remote import read_manifest, shard_url_inside
    from midtrain.curation.urls import join, remote_call
    from midtrain.storage.objects import filesystem
    from midtrain.storage.upload import upload_corpus

    manifest_url = join(url, "manifest.json")
    fs = filesystem(manifest_url)
    new = Manifest.read(local)
    if overwrite and remote_call("--output", manifest_url, "look up", lambda: fs.exists(manifest_url)):
        try:
            old = read_manifest(url)
        except CorpusError:  # unreadable: nothing known to clean up, but it is replaced all the same
            old = Manifest(kind="text", shards=[])
        remote_call("--output", manifest_url, "delete", lambda: fs.rm(manifest_url))
        keep = {s.path for s in [*new.shards, *new.rejected]}
        for rel in sorted({s.path for s in [*old.shards, *old.rejected]} - keep):
            target = shard_url_inside(url, rel)  # a path escaping the URL is refused, never deleted
            remote_call("--output", target, "delete", lambda t=target: fs.rm(t))
    return upload_corpus(local, url, extra_files=[f for f in REPORT_FILES if (local / f).is_file()])


def _as_spec(item: Any) -> InputSpec:
    if isinstance(item, InputSpec):
        return item
    if isinstance(item, (tuple, list)):
        path, domain = item
        return InputSpec(path=str(path), domain=domain)
    return parse_input_arg(str(item))


def _job_definition(cfg: CurateConfig, specs: list[InputSpec], units: list) -> dict:
    """Everything that decides the output (not the executor or worker count), and its hash."""
    body = {
        "midtrain": __version__,
        "inputs": [asdict(s) for s in specs],
        "units": describe_units(units),
        "pipeline": None if cfg.pipeline is None else [asdict(s) for s in cfg.pipeline],
        "output": asdict(cfg.output),
        "dedup": None if cfg.dedup is None else asdict(cfg.dedup),
        "decontaminate": None if cfg.decontaminate is None else asdict(cfg.decontaminate),
    }
    text = json.dumps(body, sort_keys=True, default=str)
    return {"fingerprint": hashlib.sha256(text.encode()).hexdigest()[:16], **body}


def _claim_output(out: Path, job_dir: Path, definition: dict, overwrite: bool) -> None:
    """Start a new job in ``out``, or resume the same one; refuse to mix two different jobs."""
    config_path = job_dir / "config.json"
    if out.exists() and overwrite:
        if any(out.iterdir()) and not config_path.is_file():
            raise ConfigError(f"{out}: --overwrite only replaces a curate output folder, and this one has no "
                              f"{JOB_DIR}/config.json; choose another --output")
        shutil.rmtree(out)
    if config_path.is_file():
        previous = json.loads(config_path.read_text())
        if previous.get("fingerprint") != definition["fingerprint"]:
            changed = sorted(k for k in definition if k != "fingerprint" and previous.get(k) != definition[k])
            raise ConfigError(f"{out}: holds a curate job with another configuration (differs in: "
                              f"{', '.join(changed) or 'version'}); rerun the original command to resume it, "
                              "or pass --overwrite / use another --output")
        return
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not empty; choose a new --output folder")
    job_dir.mkdir(parents=True, exist_ok=True)
    from midtrain.corpus.manifest import atomic_write_bytes

    atomic_write_bytes(config_path, (json.dumps(definition, indent=1, sort_keys=True, default=str) + "\n").encode())


def finish_corpus(corpus_dir: Path, job_dir: Path, tasks: int, extra: dict) -> Manifest:
    """Merge every task's shard list and write the manifest (last, atomically)."""
    shards: list[ShardInfo] = []
    rejected: list[ShardInfo] = []
    for rank in range(tasks):
        path = job_dir / "tasks" / f"{rank:05d}.json"
        try:
            body = json.loads(path.read_text())
        except FileNotFoundError:
            raise MidtrainError(f"{path}: missing although task {rank} is marked complete; delete "
                                f"{job_dir / 'completions' / f'{rank:05d}'} and rerun the same command") from None
        shards += [ShardInfo(**s) for s in body["shards"]]
        rejected += [ShardInfo(**s) for s in body["rejected"]]
    manifest = Manifest(kind="text", shards=sorted(shards, key=lambda s: s.path),
                        rejected=sorted(rejected, key=lambda s: s.path), extra=extra)
    manifest.write(corpus_dir)
    return manifest


def _carry_provenance(previous: Path, target: Path, order: list[str]) -> None:
    """A stage's corpus keeps the read counts of the job, so input = kept + rejected + invalid."""
    curation = Manifest.read(previous).extra.get("curation", {})
    manifest = Manifest.read(target)
    manifest.extra = {**manifest.extra, "curation": {**curation, "reject_order": order}}
    manifest.write(target)
