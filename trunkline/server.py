"""`trunkline run`: wire the layers together: database, board, engine, flows, ACD, web admin,
and (on the simulator) callers arriving at the demo hotline."""
import asyncio
import logging
import os
import random
import socket

from trunkline.cdr import CdrRecorder
from trunkline.drivers.board import open_board
from trunkline.ivr.demo import ensure_demo_prompts, hotline
from trunkline.media import Engine, PromptLibrary

log = logging.getLogger("trunkline.server")


async def demo_callers(sim, cfg, engine):
    """Simulated callers dialling the demo hotline at random intervals, with their outcome logged."""
    rng = random.Random()
    n = 0
    while True:
        await sim.sleep(rng.expovariate(1.0 / cfg.demo_interval))
        n += 1
        asyncio.ensure_future(_one_caller(sim, rng, n))


async def _one_caller(sim, rng, n):
    from trunkline.hw_sim import SimError
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
        log.info("demo caller %s: call completed (menu choice %s, %.1f s)", caller, choice,
                 sim.card.now - phone.answered_at)
    except SimError as exc:
        log.warning("demo caller %s: %s", caller, exc)
        await phone.hangup()


def start_sms(cfg, factory, simulated):
    """The SMS queue on the configured GSM modem port (a simulated pty modem on the simulator); None if none."""
    from trunkline.sms import SmsService
    port = cfg.gsm_port
    if not port and simulated:
        from trunkline.hw_sim.gsm_modem import GsmModemSim
        port = GsmModemSim().start().path
    if not port:
        return None
    try:
        svc = SmsService(factory, port)
        svc.start()
        log.info("SMS through the GSM modem on %s", port)
        return svc
    except Exception as exc:   # a missing modem must not stop the server; queued messages wait in the DB
        log.warning("SMS service not started on %s: %s", port, exc)
        return None


def install_flows(engine, cfg, factory, acd, default_flow):
    """Route calls through the IVR flow registry (YAML flows from the database, call firewall);
    returns the registry. The demo hotline is the default flow."""
    from trunkline.ivr import blacklist
    from trunkline.ivr.flows import FlowRegistry, Router, Services
    from trunkline.ivr.prompts import PromptLibrary as IvrPrompts
    from trunkline.ivr.voicemail import Voicemail
    prompts = IvrPrompts(cfg.prompts_dir, language=cfg.language, session_factory=factory)
    voicemail = Voicemail(factory, os.path.join(cfg.var_dir, "voicemail"), prompts)
    from trunkline.fax.service import FaxStore
    services = Services(prompts=prompts, session_factory=factory, voicemail=voicemail, acd=acd,
                        data_dir=cfg.var_dir, fax_store=FaxStore(factory, cfg.fax_dir))
    registry = FlowRegistry(services)
    default_flow.language = cfg.language
    registry.register("hotline", default_flow)
    registry.load_from_db()
    blacklist.configure(factory)
    Router(registry, default="hotline").install(engine)
    return registry


async def _restore_campaigns(manager):
    """Reload the campaigns that were running or paused when the server last stopped."""
    try:
        names = await manager.restore()
        if names:
            log.info("campaigns restored: %s", ", ".join(names))
    except Exception:
        log.exception("stored campaigns could not be restored")


async def serve(cfg):
    """Run the server until cancelled (Ctrl-C)."""
    from trunkline.db import bootstrap, make_session_factory, migrate
    from trunkline.spool import DurableWriter

    os.makedirs(cfg.var_dir, exist_ok=True)
    os.makedirs(cfg.recordings_dir, exist_ok=True)
    db = migrate(cfg.database_url)
    factory = make_session_factory(db)
    bootstrap(factory)
    writer = DurableWriter(db, os.path.join(cfg.var_dir, "spool", "records.jsonl"))
    writer.start()
    ensure_demo_prompts(cfg.prompts_dir, cfg.language)

    sim = None
    if cfg.board_url.startswith("sim://"):
        from trunkline.hw_sim import Switch, open_card
        sim = Switch(open_card(cfg.board_url))
        if cfg.trunk_signaling in ("pri", "r2"):
            try:
                from trunkline.hw_sim.trunks import attach_trunk_far_end
                attach_trunk_far_end(sim, cfg.trunk_signaling)
            except ImportError as exc:
                log.warning("no simulated %s far end: %s", cfg.trunk_signaling, exc)
    board = open_board(cfg.board_url)
    board.set_realtime(cfg.realtime)
    engine = Engine(board, prompts=PromptLibrary([cfg.prompts_dir], cfg.language), zone=cfg.zone,
                    trunk_signaling=cfg.trunk_signaling)
    engine.on_call_end(CdrRecorder(writer, server=socket.gethostname()))
    sms = start_sms(cfg, factory, simulated=sim is not None)
    engine.sms = sms

    async def flow(call):
        call.vars["recordings_dir"] = cfg.recordings_dir
        await hotline(call)

    acd = None
    try:
        from trunkline.acd.service import ACD
        acd = ACD(engine, factory, config={"instance": f"acd-{socket.gethostname()}", "writer": writer,
                                           "recordings_dir": cfg.recordings_dir})
    except Exception as exc:   # the ACD is optional for the demo; say why it is off
        log.warning("ACD not started: %s", exc)

    registry = install_flows(engine, cfg, factory, acd, flow)
    campaigns = {}                       # name -> ivr.campaign.Campaign, shown and controlled in the web admin
    from trunkline.ivr.campaign_store import CampaignManager
    campaign_manager = CampaignManager(engine, factory, registry, campaigns)   # web-created, kept in the DB

    stopper = None
    try:
        from trunkline.webadmin import create_app
        from trunkline.webadmin import serve as serve_web
        from trunkline.webadmin.hub import Hub
        hub = Hub(session_factory=factory, engine=engine, acd=acd, writer=writer,
                  recordings_dir=cfg.recordings_dir, prompts_dir=cfg.prompts_dir, fax_dir=cfg.fax_dir,
                  extra={"flows": registry, "sms": sms, "campaigns": campaigns,
                         "campaign_manager": campaign_manager})
        app = create_app({"DATABASE_URL": cfg.database_url, "PROMPTS_DIR": cfg.prompts_dir}, hub)
        stopper = serve_web(app, host=cfg.http_host, port=cfg.http_port)
        log.info("web admin on http://%s:%d/", cfg.http_host, cfg.http_port)
    except ImportError as exc:
        log.warning("web admin not available: %s", exc)

    log.info("engine running on %s (%d channels, %s time)", cfg.board_url, board.channels,
             "real" if cfg.realtime else "virtual")
    tasks = []
    if acd is not None and hasattr(acd, "start"):
        await acd.start()
    tasks.append(asyncio.ensure_future(_restore_campaigns(campaign_manager)))
    if sim is not None and cfg.demo_callers:
        tasks.append(asyncio.ensure_future(demo_callers(sim, cfg, engine)))
    try:
        await engine.run()
    finally:
        campaign_manager.stop_all()     # stored state stays running/paused: they carry on at the next start
        for t in tasks:
            t.cancel()
        if stopper is not None:
            stopper()
        writer.stop()
        if sms is not None:
            sms.stop()
        engine.close()
