"""askbot.search._kernel: the compiled exact top-k search (see _kernel.c)."""

from typing import Any

def topk(
    indptr: Any,
    docs: Any,
    impacts: Any,
    tfs: Any,
    delta: Any,
    term_max: Any,
    champ_ptr: Any,
    champ_docs: Any,
    seq: Any,
    doc_len: Any,
    idf: Any,
    k: int,
    k1: float,
    b: float,
    avgdl: float,
    bounds: Any,
    touched: Any,
    out_docs: Any,
    out_scores: Any,
    prune: bool = True,
    /,
) -> tuple[int, int, int, int]: ...
def finish(
    indptr: Any,
    docs: Any,
    tfs: Any,
    doc_len: Any,
    idf: Any,
    k1: float,
    b: float,
    avgdl: float,
    champ_ptr: Any,
    term_max: Any,
    delta: Any,
    impacts: Any,
    champ_docs: Any,
    threads: int = 0,
    /,
) -> None: ...
def merge(
    o_indptr: Any,
    o_docs: Any,
    o_tfs: Any,
    remap: Any,
    old_of_u: Any,
    f_indptr: Any,
    f_docs: Any,
    f_tfs: Any,
    fresh_of_u: Any,
    base: int,
    out_indptr: Any,
    out_docs: Any,
    out_tfs: Any,
    threads: int = 0,
    /,
) -> int: ...
def invert_count(
    tokens: Any, doc_len: Any, rank: Any, parts: int, df_parts: Any, last: Any, /
) -> int: ...
def invert_fill(
    tokens: Any,
    doc_len: Any,
    rank: Any,
    parts: int,
    indptr: Any,
    df_parts: Any,
    last: Any,
    docs: Any,
    tfs: Any,
    /,
) -> None: ...
