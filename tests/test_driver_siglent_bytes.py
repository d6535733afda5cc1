"""Both Siglent drivers at the byte level, against a scripted loopback socket.

The replies are the exact bytes of the guides: the legacy `C1:WF DAT2,` echo before `#9`, the
346-byte WAVEDESC block, two LF after every block, and the next reply still in step; the
commands the drivers sent are checked in order, chunked reads included.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from test_driver_sds1000xe import SETUP
from test_driver_sds2000xp import ESR, descriptor
from test_transport import LoopbackInstrument

from benchtest.values.waveform import Waveform
from instruments.siglent.sds1000xe import SiglentSDS1000XE
from instruments.siglent.sds2000xp import SiglentSDS2000XPlus


@pytest.fixture
def instrument() -> Iterator[LoopbackInstrument]:
    server = LoopbackInstrument()
    yield server
    server.stop()


def read_all(
    driver: type[SiglentSDS1000XE | SiglentSDS2000XPlus],
    instrument: LoopbackInstrument,
    then: str,
    chunk: int | None = None,
) -> tuple[Waveform, str]:
    """Connect, read the whole record ("max") and the reply to `then`; always disconnect."""
    scope = driver.open(instrument.resource, role="scope", timeout=1.0)
    try:
        if isinstance(scope, SiglentSDS1000XE) and chunk is not None:
            scope.max_points_per_read = chunk
        return scope.fetch_waveform(1, "max"), scope.query(then)
    finally:
        scope.close()


def test_legacy_header_echo_block_and_two_lf(instrument: LoopbackInstrument) -> None:
    """The real framing: `C1:WF DAT2,#9...` then two LF, and the next reply still in step."""
    codes = np.array([2, -1, 100, -100, 0, 1], dtype=np.int8)
    replies: dict[str, bytes | list[bytes]] = {
        "CMR?": b"CMR 0\n",
        "SANU? C1": b"SANU 6pts\n",
        **{command: f"{reply}\n".encode() for command, reply in SETUP},
        "C1:WF? DAT2": [b"C1:WF DAT2,#9000000004" + codes[:4].tobytes() + b"\n\n",
                        b"C1:WF DAT2,#9000000002" + codes[4:].tobytes() + b"\n\n"],
    }  # fmt: skip
    instrument.replies.update(replies)
    wf, after = read_all(SiglentSDS1000XE, instrument, "CMR?", chunk=4)
    assert after == "CMR 0"  # both LF of the last block consumed: no desynchronisation
    assert np.array_equal(wf.samples, codes) and wf.values[0] == pytest.approx(0.54)
    sent = [c for c in instrument.received if c != "CMR?"]
    assert sent[:4] == ["*CLS", "CHDR SHORT", "STOP", "C1:VDIV?"]
    assert sent[-4:] == ["WFSU SP,1,NP,4,FP,0", "C1:WF? DAT2", "WFSU SP,1,NP,2,FP,4", "C1:WF? DAT2"]


def test_plus_preamble_and_data_blocks_with_two_lf(instrument: LoopbackInstrument) -> None:
    codes = np.array([90, -90, 0, 1, 2], dtype=np.int8)
    desc = descriptor(points=5)
    instrument.replies.update(
        {
            ESR: b"0\n",
            ":WAVeform:PREamble?": b"#9000000346" + desc + b"\n\n",
            ":ACQuire:POINts?": b"5\n",
            ":WAVeform:MAXPoint?": b"3\n",
            ":WAVeform:DATA?": [
                b"#9000000003" + codes[:3].tobytes() + b"\n\n",
                b"#9000000002" + codes[3:].tobytes() + b"\n\n",
            ],
        }
    )
    wf, after = read_all(SiglentSDS2000XPlus, instrument, ESR)  # pieces: MAXPoint says 3
    assert after == "0"  # both LF of the last block consumed
    assert np.array_equal(wf.samples, codes) and wf.values[0] == pytest.approx(3.0)
    sent = [c for c in instrument.received if c != ESR]
    assert sent[-6:] == [
        ":WAVeform:STARt 0",
        ":WAVeform:POINt 3",
        ":WAVeform:DATA?",
        ":WAVeform:STARt 3",
        ":WAVeform:POINt 2",
        ":WAVeform:DATA?",
    ]
