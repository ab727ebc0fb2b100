"""WebRTC media for browser phones (aiortc): one RTCPeerConnection per phone, in its own asyncio loop thread.

The browser's audio (Opus or G.711, whatever was negotiated; aiortc decodes it) is resampled to 8 kHz mono
and pushed into the phone's FIFO; the engine's 8 kHz audio goes back as 20 ms frames (aiortc's encoder
resamples to the codec's rate). Offer/answer is one POST (no trickle ICE: the answer carries the candidates).
"""
import asyncio
import fractions
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from trunkline.drivers.backends.browser import BrowserPhone

log = logging.getLogger(__name__)
RATE, FRAME = 8000, 160          #: Hz, samples per 20 ms frame sent to the browser
MAX_SDP = 64 * 1024              #: bytes of SDP offer accepted


class EngineTrack(MediaStreamTrack):
    """The engine's audio for one phone, as paced 20 ms 8 kHz mono frames."""

    kind = "audio"

    def __init__(self, phone: BrowserPhone) -> None:
        super().__init__()
        self.phone = phone
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms frame (waits for its time)."""
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        samples = self.phone.take_to_browser(FRAME)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


class WebRTCPhones:
    """Peer connections of browser phones, run in one background asyncio loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._pcs: dict[int, RTCPeerConnection] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="webrtc", daemon=True)
        self._thread.start()

    def answer(self, phone: BrowserPhone, sdp: str, timeout: float = 10.0) -> str:
        """Take the browser's SDP offer for `phone`; returns the SDP answer (raises ValueError on bad input)."""
        if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
            raise ValueError("not an SDP offer")
        fut: Future[str] = asyncio.run_coroutine_threadsafe(self._answer(phone, sdp), self.loop)
        return fut.result(timeout)

    def close_phone(self, phone: BrowserPhone) -> None:
        """Close the phone's peer connection, if any."""
        asyncio.run_coroutine_threadsafe(self._close(phone.channel), self.loop).result(5)
        phone.attached = False

    def close(self) -> None:
        """Close every peer connection and stop the loop."""
        for ch in list(self._pcs):
            asyncio.run_coroutine_threadsafe(self._close(ch), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _close(self, channel: int) -> None:
        pc = self._pcs.pop(channel, None)
        if pc is not None:
            await pc.close()

    async def _answer(self, phone: BrowserPhone, sdp: str) -> str:
        await self._close(phone.channel)
        pc = RTCPeerConnection()
        self._pcs[phone.channel] = pc
        pc.addTrack(EngineTrack(phone))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                asyncio.ensure_future(self._pump(phone, track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("browser phone %d: %s", phone.port, pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                phone.attached = False
                if self._pcs.get(phone.channel) is pc:
                    await self._close(phone.channel)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        phone.reset_audio()
        phone.attached = True
        return str(pc.localDescription.sdp)

    async def _pump(self, phone: BrowserPhone, track: MediaStreamTrack) -> None:
        """The browser's audio into the phone's FIFO, as 8 kHz mono int16."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        try:
            while True:
                frame: Any = await track.recv()
                for out in resampler.resample(frame):
                    phone.push_from_browser(out.to_ndarray().reshape(-1).astype(np.int16))
        except Exception as exc:          # the track ends with MediaStreamError when the browser goes
            log.info("browser phone %d: audio ended (%s)", phone.port, type(exc).__name__)
