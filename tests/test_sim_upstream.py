"""Where a raw SCPI socket's response messages end (the END that VXI-11 and HiSLIP carry): after
the LF of a text reply, after a definite-length block and its LF, however the bytes arrive."""

from __future__ import annotations

import pytest

from benchtest.sim.server.upstream import ResponseFramer

REPLIES = [
    b"1.0,2\n",  # text
    b"#15ab\ncd\n",  # a block whose payload holds an LF
    b"DAT2,#13x\ny\n",  # a block after a header, as Siglent's C1:WF? DAT2 answers
    b"\n",  # the second terminator of a Siglent block: a message of its own
    b"a;#12\n\n\n",  # a block after ';'
    b"\x15\xfe?#\x00garbled\n",  # garbage: a '#' inside text is text
    b"#5\n",  # '#' and a digit, then no count: text
    b"#0xx\n",  # indefinite-length: ends at its LF
]


def messages(chunks: list[bytes], limit: int = 1 << 30) -> list[tuple[bytes, bool]]:
    framer = ResponseFramer()
    for chunk in chunks:
        framer.feed(chunk)
    pieces = []
    while len(framer):
        data, ended, _ = framer.take(limit)
        pieces.append((data, ended))
    return pieces


@pytest.mark.parametrize("split", [1, 2, 3, 7, 1000], ids=lambda n: f"{n}-byte chunks")
def test_each_response_message_ends_where_the_instrument_would_assert_end(split: int) -> None:
    stream = b"".join(REPLIES)
    chunks = [stream[i : i + split] for i in range(0, len(stream), split)]
    assert messages(chunks) == [(reply, True) for reply in REPLIES]


def test_a_read_stops_at_its_size_and_at_the_termination_character() -> None:
    framer = ResponseFramer()
    framer.feed(b"#9000000010")
    assert not framer.ready(100, None) and framer.ready(5, None)
    framer.feed(b"0123\n56789\nNEXT\n")
    assert framer.complete  # the block and the LF after it have arrived
    assert framer.take(4) == (b"#900", False, False)
    assert framer.ready(100, ord("\n"))
    assert framer.take(100, ord("\n")) == (b"00000100123\n", False, True)
    assert framer.take(100) == (b"56789\n", True, False)  # the block and its LF: END
    assert framer.take(100, ord("\n")) == (b"NEXT\n", True, True)
    assert len(framer) == 0 and not framer.ready(1, ord("\n"))


def test_a_reply_without_its_terminator_never_ends() -> None:
    framer = ResponseFramer()
    framer.feed(b"+1.000000E-06," * 100)
    assert not framer.complete
    data, ended, _ = framer.take(1 << 20)
    assert len(data) == 1400 and not ended


def test_clear_forgets_the_reply_and_its_framing() -> None:
    framer = ResponseFramer()
    framer.feed(b"#9000001000" + bytes(10))  # a block cut short by a device clear
    framer.clear()
    framer.feed(b"ID\n")
    assert framer.take(100) == (b"ID\n", True, False)
