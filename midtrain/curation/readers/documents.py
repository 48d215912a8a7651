"""Turning parsed records into datatrove ``Document``s with the metadata every step relies on.

A document carries (curation contract): ``id`` (unique across the job), ``metadata["source"]``
(the input's name), ``metadata["domain_hint"]`` (from ``INPUT=DOMAIN``, the config, or a record
field) and ``metadata["domain"]`` (the hint, or ``web`` until a domain labeller decides).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from datatrove.data import Document

from midtrain.curation.inputs import InputSpec, InputUnit
from midtrain.curation.readers.log import ReadLog

DEFAULT_DOMAIN = "web"
_DOMAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def new_document(text: str, doc_id: str, source: str, hint: str | None, **fields: object) -> Document:
    """A document with the contract's metadata; ``fields`` are reader columns (e.g. ``path``)."""
    metadata = {"source": source, "domain_hint": hint, "domain": hint or DEFAULT_DOMAIN}
    metadata.update(fields)
    return Document(text=text, id=doc_id, metadata=metadata)


def documents_from_columns(spec: InputSpec, unit: InputUnit, log: ReadLog, texts: list, ids: list | None,
                           hints: list | None, first_index: int, where: str = "row") -> Iterator[Document]:
    """Documents for a batch of rows (columns as Python lists); null or non-string texts are invalid.

    ``first_index`` is the batch's first row index in the unit's file; it names rows in ids
    (``<rel>#<index>``) and in the invalid log.
    """
    source = spec.source
    log.record(source, len(texts))
    for k, text in enumerate(texts):
        index = first_index + k
        if not isinstance(text, str):
            kind = "missing_text" if text is None else "not_text"
            log.add_invalid(source, kind, unit.rel, f"{where} {index}",
                            f"text field {spec.text_field!r} is {'missing or null' if text is None else type(text).__name__}")
            continue
        hint = spec.domain
        if hints is not None and hints[k] is not None:
            hint = str(hints[k])
            if not _DOMAIN_NAME.match(hint):
                log.add_invalid(source, "bad_domain", unit.rel, f"{where} {index}",
                                f"domain field {spec.domain_field!r} is {hint!r}; use letters, digits, '_', '.', '-'")
                continue
        raw_id = ids[k] if ids is not None else None
        doc_id = str(raw_id) if raw_id is not None else f"{unit.rel}#{index}"
        yield new_document(text, doc_id, source, hint)
