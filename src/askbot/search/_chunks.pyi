"""askbot.search._chunks: text -> term ids through a table of whitespace chunks (see _chunks.c)."""

from collections.abc import Callable, Sequence

from typing_extensions import Buffer

class ChunkTable:
    def __init__(self, seed: int = 0) -> None: ...
    def __len__(self) -> int: ...
    def batch(
        self,
        texts: Sequence[str],
        shouted: Buffer,
        add_chunk: Callable[[str, bool], Sequence[int]],
        /,
    ) -> tuple[bytearray, bytearray]: ...
    def term_count(self) -> int: ...

def isprintable(text: str, /) -> bool: ...
def spaces_folded(text: str, /) -> bool: ...
