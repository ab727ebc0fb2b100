"""`trunkline run`: wire the layers together: database, board, engine, flows, ACD, web admin,
and (on the simulator) callers arriving at the demo hotline."""
import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from trunkline.acd.service import ACD
from trunkline.app.schema import migrate
from trunkline.data.accounts import bootstrap
from trunkline.data.config import Config
from trunkline.data.db import make_session_factory
from trunkline.data.spool import DurableWriter
from trunkline.drivers.board import open_board
from trunkline.drivers.serial.sms_service import SmsService
from trunkline.fax import FaxEndpoint
from trunkline.fax.service import FaxStore
from trunkline.ivr import blacklist
from trunkline.ivr.campaign_store import CampaignManager
from trunkline.ivr.demo import ensure_demo_prompts, hotline
from trunkline.ivr.flows import FlowRegistry, Router, Services
from trunkline.ivr.prompts import PromptLibrary as IvrPrompts
from trunkline.ivr.prompts import espeak_available
from trunkline.ivr.voicemail import Voicemail
from trunkline.media import Call, Engine, PromptLibrary
from trunkline.media.cdr import CdrRecorder
from trunkline.pstn import SimError, SimRig, Switch
from trunkline.pstn.gsm_modem import GsmModemSim
from trunkline.webadmin import create_app
from trunkline.webadmin import serve as serve_web
from trunkline.webadmin.hub import Hub

log = logging.getLogger("trunkline.server")


class DemoHotline:
    """The demo hotline as the default Python flow: recordings go to `recordings_dir`; prompts in `language`."""

    def __init__(self, recordings_dir: str, language: str) -> None:
        self.recordings_dir = recordings_dir
        self.language = language

    async def __call__(self, call: Call) -> None:
        """Run the demo hotline on `call`."""
        call.vars["recordings_dir"] = self.recordings_dir
        await hotline(call)


class StartupSummary:
    """What `trunkline run` started and what is off (and how to turn it on), logged once at start."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def on(self, feature: str, detail: str) -> None:
        """Record a feature that is running."""
        self.lines.append(f"  {feature:<12} on   {detail}")

    def off(self, feature: str, why: str, how: str) -> None:
        """Record an optional feature that is off: one warning naming it and how to turn it on."""
        log.warning("%s is off: %s (%s)", feature, why, how)
        self.lines.append(f"  {feature:<12} OFF  {why} — {how}")

    def log(self) -> None:
        """Log the summary block."""
        log.info("start-up summary:\n%s", "\n".join(self.lines))


async def demo_callers(sim: Switch, cfg: Config) -> None:
    """Simulated callers dialling the demo hotline at random intervals, with their outcome logged."""
    rng = random.Random()
    n = 0
    while True:
        await sim.sleep(rng.expovariate(1.0 / cfg.demo_interval))
        n += 1
        asyncio.ensure_future(_one_caller(sim, rng, n))


async def _one_caller(sim: Switch, rng: random.Random, n: int) -> None:
    caller = f"1390000{n:04d}"
    try:
        phone = sim.call("95588", from_=caller)
    except SimError as exc:
        log.info("demo caller %s: %s", caller, exc)
        return
    try:
        await phone.wait_answer(timeout=30)
        await phone.sleep(rng.uniform(1, 3))
        choice = rng.choice("123")
        await phone.send_dtmf(choice)
        if choice == "1":
            await phone.sleep(1.0)
            await phone.send_dtmf("".join(rng.choice("0123456789") for _ in range(6)) + "#")
        await phone.wait_hangup(timeout=90)
        held = sim.card.now - phone.answered_at if phone.answered_at is not None else 0.0
        log.info("demo caller %s: call completed (menu choice %s, %.1f s)", caller, choice, held)
    except SimError as exc:
        log.warning("demo caller %s: %s", caller, exc)
        await phone.hangup()


def start_sms(cfg: Config, factory: Callable[[], Session], simulated: bool,
              summary: StartupSummary) -> SmsService | None:
    """The SMS queue on the configured GSM modem port (a simulated pty modem on the simulator); None if none."""
    port = cfg.gsm_port
    if not port and simulated:
        port = GsmModemSim().start().path
    if not port:
        summary.off("SMS", "no GSM modem port configured",
                    "set gsm_port (TRUNKLINE_GSM_PORT) to the modem's serial port")
        return None
    svc = SmsService(factory, port)
    svc.start()            # reconnects by itself; queued messages wait in the database meanwhile
    summary.on("SMS", f"GSM modem on {port}")
    return svc


def install_flows(engine: Engine, cfg: Config, factory: Callable[[], Session], acd: ACD,
                  default_flow: DemoHotline) -> FlowRegistry:
    """Route calls through the IVR flow registry (YAML flows from the database, call firewall);
    returns the registry. The demo hotline is the default flow."""
    prompts = IvrPrompts(cfg.prompts_dir, language=cfg.language, session_factory=factory)
    voicemail = Voicemail(factory, os.path.join(cfg.var_dir, "voicemail"), prompts)
    services = Services(prompts=prompts, session_factory=factory, voicemail=voicemail, acd=acd,
                        data_dir=cfg.var_dir, fax_store=FaxStore(factory, cfg.fax_dir))
    registry = FlowRegistry(services)
    registry.register("hotline", default_flow)
    registry.load_from_db()
    blacklist.configure(factory)
    Router(registry, default="hotline").install(engine)
    return registry


async def _restore_campaigns(manager: CampaignManager) -> None:
    """Reload the campaigns that were running or paused when the server last stopped."""
    try:
        names = await manager.restore()
    except Exception:   # a bad stored campaign must not stop the server: logged with its traceback
        log.exception("stored campaigns could not be restored")
        return
    if names:
        log.info("campaigns restored: %s", ", ".join(names))


async def serve(cfg: Config) -> None:
    """Run the server until cancelled (Ctrl-C)."""
    summary = StartupSummary()
    os.makedirs(cfg.var_dir, exist_ok=True)
    os.makedirs(cfg.recordings_dir, exist_ok=True)
    db = migrate(cfg.database_url)
    factory = make_session_factory(db)
    bootstrap(factory)
    writer = DurableWriter(db, os.path.join(cfg.var_dir, "spool", "records.jsonl"))
    writer.start()
    if espeak_available():
        summary.on("speech", "espeak-ng synthesises prompts that have no recording")
    else:
        summary.off("speech", "espeak-ng is not installed: demo prompts are tone patterns",
                    "apt-get install espeak-ng (make run installs it)")
    ensure_demo_prompts(cfg.prompts_dir, cfg.language)

    media_prompts = PromptLibrary([cfg.prompts_dir], cfg.language)
    sim = None
    if cfg.board_url.startswith("sim://"):
        rig = SimRig(cfg.board_url, trunk=cfg.trunk_signaling, prompts=media_prompts, zone=cfg.zone, fresh=False,
                     browser_phones=cfg.browser_phones)
        sim, board, engine = rig.sim, rig.board, rig.engine
        summary.on("board", f"{cfg.board_url} (card simulator, {cfg.trunk_signaling} far end)")
    else:
        board = open_board(cfg.board_url, browser_phones=cfg.browser_phones)
        engine = Engine(board, prompts=media_prompts, zone=cfg.zone, trunk_signaling=cfg.trunk_signaling,
                        fax_endpoint_factory=FaxEndpoint)
        summary.on("board", cfg.board_url)
    board.set_realtime(cfg.realtime)
    if board.phones is not None:
        summary.on("browser phones", f"{len(board.phones.phones)} WebRTC station ports (workbench: this browser)")
    engine.on_call_end(CdrRecorder(writer, server=socket.gethostname()))
    sms = start_sms(cfg, factory, simulated=sim is not None, summary=summary)
    engine.sms = sms

    acd = ACD(engine, factory, config={"instance": f"acd-{socket.gethostname()}", "writer": writer,
                                       "recordings_dir": cfg.recordings_dir})
    summary.on("ACD", f"instance acd-{socket.gethostname()}")
    registry = install_flows(engine, cfg, factory, acd, DemoHotline(cfg.recordings_dir, cfg.language))
    campaigns: dict[str, Any] = {}       # name -> ivr.campaign.Campaign, shown and controlled in the web admin
    campaign_manager = CampaignManager(engine, factory, registry, campaigns)   # web-created, kept in the DB

    hub = Hub(session_factory=factory, engine=engine, acd=acd, writer=writer,
              recordings_dir=cfg.recordings_dir, prompts_dir=cfg.prompts_dir, fax_dir=cfg.fax_dir,
              flows=registry, sms=sms, campaigns=campaigns,
              campaign_manager=campaign_manager)
    app = create_app({"DATABASE_URL": cfg.database_url, "PROMPTS_DIR": cfg.prompts_dir,
                      "METRICS_ALLOW": cfg.metrics_allow}, hub)
    stopper = serve_web(app, host=cfg.http_host, port=cfg.http_port)
    summary.on("web admin", f"http://{cfg.http_host}:{cfg.http_port}/")
    summary.on("monitoring",
               f"/healthz for anyone, /metrics for {cfg.metrics_allow or 'nobody'} (TRUNKLINE_METRICS_ALLOW)")
    if sim is not None and cfg.demo_callers:
        summary.on("demo", f"simulated callers dial 95588 every ~{cfg.demo_interval:g} s")
    summary.on("engine", f"{board.channels} channels, {'real' if cfg.realtime else 'virtual'} time")
    summary.log()

    tasks = []
    await acd.start()
    tasks.append(asyncio.ensure_future(_restore_campaigns(campaign_manager)))
    if sim is not None and cfg.demo_callers:
        tasks.append(asyncio.ensure_future(demo_callers(sim, cfg)))
    try:
        await engine.run()
    finally:
        campaign_manager.stop_all()     # stored state stays running/paused: they carry on at the next start
        for t in tasks:
            t.cancel()
        stopper()
        writer.stop()
        if sms is not None:
            sms.stop()
        engine.close()
