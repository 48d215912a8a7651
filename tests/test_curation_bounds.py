"""The curation pipeline's numba kernels never index outside their arrays, on any text.

numba checks no index by default: a kernel that reads or writes past an array's end corrupts memory
or crashes the worker, and a test on well-formed text does not show it (stop 40's cohesion kernel
overflowed a buffer on text of blank lines; a hypothesis test found it by crashing). This test runs
the default pipeline's steps in a child process with ``NUMBA_BOUNDSCHECK=1`` (every array access
checked, an ``IndexError`` otherwise) over text of every awkward shape: empty, blank lines only, one
long line, control and replacement characters, emoji, CJK, unbalanced brackets, LaTeX, code.
The child compiles its own copy of the kernels (a fresh ``NUMBA_CACHE_DIR``: numba's cache does
not record the bounds-check flag), about 40 s on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent('''
    import random
    import numba
    import numpy as np
    from datatrove.data import Document
    from midtrain.curation.filters import ApplyThresholds
    from midtrain.curation.taggers import ComputeSignals, DomainLabeller, LanguageID, Normalise, QualityScorer

    @numba.njit
    def past_the_end(a):
        return a[len(a)]

    try:  # the check must be on, or this test proves nothing
        past_the_end(np.zeros(2))
        raise SystemExit("NUMBA_BOUNDSCHECK is not in effect")
    except IndexError:
        pass

    PIECES = ["a", "Z", " ", "\\n", "\\t", "\\r", ".", "!", "?", "(", ")", "{", "}", "[", "]", "é", "—",
              "\\x00", "\\x0b", "\\u2028", "😀", "中", "\\\\", "$", "=", ";", "#", "<", ">", "'", '"', "`", "0", "9",
              "\\ufffd", "ab.", "Word ", "def ", "the ", "\\n\\n\\n", "    ", "http://x.y/z ", "\\\\begin{eq}", "x^2",
              "word. "]
    rng = random.Random(40)
    # a sentence end and a line end every two bytes ("a.\\n\\n"): the case that overflowed the cohesion kernel
    texts = ["", " ", "\\n" * 5000, "a" + "\\n" * 5000, "x.\\n" * 3000, "a.\\n\\n" * 2000, "\\n \\n" * 3000,
             "x" * 60000, "A." * 9000, "word " * 9000, ") ] }" * 3000, "😀" * 5000]
    for _ in range(16 * 64):
        n = rng.choice([1, 2, 5, 30, 300, 3000, 20000])
        texts.append("".join(rng.choice(PIECES) for _ in range(n)))
    steps = [Normalise(), LanguageID(), DomainLabeller(), QualityScorer(), ComputeSignals(), ApplyThresholds()]
    for start in range(0, len(texts), 64):
        docs = [Document(text=t, id=str(start + i), metadata={}) for i, t in enumerate(texts[start:start + 64])]
        for step in steps:
            docs = step.run(docs)
        list(docs)
    print("checked", len(texts))
''')


def test_pipeline_kernels_stay_inside_their_arrays(tmp_path: Path):
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "checked 1036" in done.stdout
