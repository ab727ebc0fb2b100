"""A test rig over the server's own wiring (trunkline.app.server.install_flows / build_services): a card
simulator, the ACD, the service context on a migrated database and the web admin on the same database.

Prompts are pure tones (one frequency per name) so what a caller heard is read back with an FFT."""
import asyncio
import datetime as dt
import os
import shutil
from zoneinfo import ZoneInfo

import numpy as np
from web_fixtures import make_app

from trunkline.acd.service import ACD
from trunkline.app import server
from trunkline.data.config import Config
from trunkline.dsp.constants import RATE
from trunkline.ivr.prompts import PromptLibrary

_GENERATED = {}
TONES = {"open": 500, "closed": 700, "holiday": 900, "failed": 1100, "bye": 1300}


def tone(freq, seconds=0.4, level=8000):
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def heard(audio, names=TONES, win=400):
    """Names of the tone prompts in captured audio, in order (a prompt counted once per play)."""
    by_freq = {f: n for n, f in names.items()}
    audio = np.asarray(audio, dtype=np.float64)
    out, last = [], None
    for i in range(0, len(audio) - win + 1, win):
        seg = audio[i:i + win]
        name = None
        if np.sqrt(np.mean(seg ** 2)) > 500:
            spec = np.abs(np.fft.rfft(seg * np.hanning(win))) ** 2
            k = int(np.argmax(spec))
            f = k * RATE / win
            cand = min(by_freq, key=lambda x: abs(x - f))
            if abs(cand - f) <= 20 and spec[max(0, k - 2):k + 3].sum() / spec.sum() > 0.8:
                name = by_freq[cand]
        if name != last and name is not None:
            out.append(name)
        last = name
    return out


class WiredServer:
    """The server's wiring on a simulator rig: engine, ACD, flows through `server.install_flows`, web admin."""

    def __init__(self, make_rig, tmp_path, query="fxo=4", when="2026-10-10 10:00", language="zh", trunk="pri",
                 smtp_port=None):
        self.app, self.hub = make_app(tmp_path)
        self.factory = self.hub.session_factory
        self.cfg = Config(var_dir=str(tmp_path / "var"), language=language)
        os.makedirs(self.cfg.recordings_dir, exist_ok=True)
        lib = PromptLibrary(self.cfg.prompts_dir, language=language, tts=False)
        for name, f in TONES.items():
            lib.add_samples(name, tone(f), lang=language)
        if "prompts" in _GENERATED:       # generated once per test session, copied for the next servers
            shutil.copytree(_GENERATED["prompts"], self.cfg.prompts_dir, dirs_exist_ok=True)
        self.summary = server.StartupSummary()
        if smtp_port is not None:              # e-mail through a local SMTP server, as `trunkline run` does
            self.cfg.smtp_host, self.cfg.smtp_port, self.cfg.smtp_from = "127.0.0.1", smtp_port, "pbx@example.com"
        self.mail = server.start_mail(self.cfg, self.factory, self.summary)
        self.media_prompts = server.install_prompts(self.cfg, self.summary)    # as `trunkline run` does
        _GENERATED.setdefault("prompts", self.cfg.prompts_dir)
        self.sim_rig = make_rig(query, prompts=self.media_prompts, trunk=trunk)
        self.sim, self.engine = self.sim_rig.sim, self.sim_rig.engine
        self.acd = ACD(self.engine, self.factory, config={"instance": "acd-test",
                                                           "recordings_dir": self.cfg.recordings_dir})
        self.registry = server.install_flows(self.engine, self.cfg, self.factory, self.acd,
                                             server.DemoHotline(self.cfg.recordings_dir, language), mail=self.mail)
        self.when = dt.datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        self.registry.services.clock = lambda: self.when
        self.hub.flows = self.registry
        self.hub.acd = self.acd
        self.campaigns = {}
        self.campaign_manager = server.make_campaign_manager(self.engine, self.cfg, self.factory, self.registry,
                                                             self.campaigns, clock=lambda: self.when)
        self.hub.campaigns, self.hub.campaign_manager = self.campaigns, self.campaign_manager

    def run(self, script, until=600.0):
        """Run the engine (and the ACD) in virtual time while `script()` drives callers; its result."""
        async def main():
            await self.acd.start()

            async def wrapped():
                try:
                    return await script()
                finally:
                    await self.sim.sleep(1.5)
                    self.engine.stop()
            task = asyncio.ensure_future(wrapped())
            await self.engine.run(until=until)
            self.acd.stop()
            return await task
        return asyncio.run(main())


