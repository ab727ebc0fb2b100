"""`trunkline run`: wire the layers together: database, board, engine, flows, ACD, web admin,
and (on the simulator) callers arriving at the demo hotline."""
import asyncio
import datetime as dt
import logging
import os
import random
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from trunkline.acd.announce import ensure_queue_prompts
from trunkline.acd.service import ACD
from trunkline.app.blas_threads import use_one_blas_thread
from trunkline.app.context import build_services, wire_acd
from trunkline.app.drain import Drain
from trunkline.app.mail import make_outbox
from trunkline.app.nodes import link_nodes, node_name, node_trunks
from trunkline.app.recovery import RunJournal
from trunkline.app.schema import migrate
from trunkline.app.sip_trunks import wire_sip_trunks
from trunkline.data.accounts import bootstrap
from trunkline.data.config import Config
from trunkline.data.db import make_session_factory
from trunkline.data.mail_outbox import MailOutbox
from trunkline.data.retention import RetentionPolicy, retention_loop
from trunkline.data.spool import DurableWriter
from trunkline.drivers.board import open_board
from trunkline.drivers.serial.sms_service import SmsService
from trunkline.drivers.sip.config import SipSettings, SipTrunk, parse_listen
from trunkline.fax import FaxBank, FaxEndpoint, T38Endpoint
from trunkline.ivr import blacklist
from trunkline.ivr.campaign_store import CampaignManager
from trunkline.ivr.carrier import carrier_classifier
from trunkline.ivr.demo import ensure_demo_prompts, hotline
from trunkline.ivr.dialplan import install as install_dialplan
from trunkline.ivr.flows import FlowRegistry, Router
from trunkline.ivr.prompts import espeak_available, set_tts_command
from trunkline.ivr.routes import InboundRoutes
from trunkline.ivr.testcall import TestCalls
from trunkline.ivr.voicemail_retention import VoicemailRetention, voicemail_retention_loop
from trunkline.media import Call, Engine, PromptLibrary
from trunkline.media.alarm_watch import AlarmWatch
from trunkline.media.cdr import CdrRecorder
from trunkline.media.refer import install as install_refer
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
        phone = sim.call("95588", from_=caller, trunk="analog" if sim.fxo or not sim.trunks else next(iter(sim.trunks)))
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


def start_mail(cfg: Config, factory: Callable[[], Session], summary: StartupSummary) -> MailOutbox | None:
    """The e-mail outbox over the configured SMTP server, delivering (also what was queued before a
    restart); None when no smtp_host is set."""
    outbox = make_outbox(cfg, factory)
    if outbox is None:
        summary.off("e-mail", "no SMTP server configured",
                    "set smtp_host (TRUNKLINE_SMTP_HOST) to e-mail voicemail and faxes")
        return None
    summary.on("e-mail", f"voicemail and faxes via SMTP {cfg.smtp_host}:{cfg.smtp_port}")
    return outbox.start()


def install_flows(engine: Engine, cfg: Config, factory: Callable[[], Session], acd: ACD,
                  default_flow: DemoHotline, mail: MailOutbox | None = None) -> FlowRegistry:
    """Route calls through the IVR flow registry (YAML flows from the database, call firewall, the inbound
    routes of the database with their recording policy); returns the registry. The demo hotline is the
    default flow; with `mail`, voicemail and faxes are e-mailed."""
    services = build_services(cfg, factory, acd, sms=getattr(engine, "sms", None), mail=mail)
    services.recordings = acd.recordings      # one recording policy for routes, flows, queues and campaigns
    registry = FlowRegistry(services)
    registry.register("hotline", default_flow)
    registry.load_from_db()
    wire_acd(acd, services, registry)
    blacklist.configure(factory)
    Router(registry, default="hotline", routes=InboundRoutes(factory), recordings=acd.recordings).install(engine)
    return registry


def install_prompts(cfg: Config, summary: StartupSummary) -> PromptLibrary:
    """Generate the prompts a first start needs (demo hotline; queue position / expected wait / callback
    offer and music on hold in zh and en) and return the engine's prompt library over cfg.prompts_dir."""
    engine = set_tts_command(cfg.tts_command)
    if cfg.tts_command and espeak_available():
        summary.on("speech", f"{engine[0]} (tts_command) synthesises prompts that have no recording")
    elif espeak_available():
        summary.on("speech", "espeak-ng synthesises prompts that have no recording")
    else:
        summary.off("speech", "espeak-ng is not installed: demo prompts are tone patterns",
                    "apt-get install espeak-ng (make run installs it)")
    ensure_demo_prompts(cfg.prompts_dir, cfg.language)
    ensure_queue_prompts(cfg.prompts_dir)
    return PromptLibrary([cfg.prompts_dir], cfg.language)


def make_campaign_manager(engine: Engine, cfg: Config, factory: Callable[[], Session], registry: FlowRegistry,
                          campaigns: dict[str, Any],
                          clock: Callable[[], dt.datetime] | None = None) -> CampaignManager:
    """The campaign dialer: calling windows from the service context's calendars and, on Chinese (cn)
    lines, the carrier announcement classifier (空号 / 关机 / 停机 / busy) over the prompt library's templates."""
    prompts = registry.services.prompts
    clf = carrier_classifier(prompts) if cfg.zone == "cn" and prompts is not None else None
    return CampaignManager(engine, factory, registry, campaigns, calendars=registry.services.calendars,
                           clock=clock, announcements=clf)


async def _restore_campaigns(manager: CampaignManager) -> None:
    """Reload the campaigns that were running or paused when the server last stopped."""
    try:
        names = await manager.restore()
    except Exception:   # a bad stored campaign must not stop the server: logged with its traceback
        log.exception("stored campaigns could not be restored")
        return
    if names:
        log.info("campaigns restored: %s", ", ".join(names))


def sip_settings(cfg: Config, summary: StartupSummary) -> SipSettings | None:
    """The SIP span's settings from the config (`sip_listen` host:port; empty: SIP off)."""
    if not cfg.sip_listen.strip():
        summary.off("SIP", "sip_listen is empty", "set sip_listen = \"host:port\" (TRUNKLINE_SIP_LISTEN)")
        return None
    parse_listen(cfg.sip_listen)
    trunks = [SipTrunk.from_dict(dict(t)) for t in cfg.sip_trunks] + node_trunks(cfg)
    settings = SipSettings(cfg.sip_listen.strip(), channels=cfg.sip_channels, rtp_port_base=cfg.sip_rtp_port_base,
                           rtp_per_socket=cfg.sip_rtp_streams_per_socket,
                           realm=cfg.sip_realm, trunks=trunks, users=dict(cfg.sip_users),
                           open_numbers=list(cfg.sip_open_numbers), open_sources=list(cfg.sip_open_sources),
                           codecs=list(cfg.sip_codecs), t38=cfg.sip_t38, t38_trigger=cfg.sip_t38_trigger)
    if settings.t38_trigger not in ("job", "tones"):
        raise ValueError(f"sip_t38_trigger must be \"job\" or \"tones\", got {settings.t38_trigger!r}")
    open_to = ", ".join(settings.open_numbers) or "nothing"
    summary.on("SIP", f"{settings.listen} UDP+TCP, {settings.channels} channels; without auth: {open_to} "
                      f"from {', '.join(settings.open_sources)}; trunks: {', '.join(t.name for t in trunks) or 'none'}"
                      f"; fax: {'T.38 first' if settings.t38 else 'audio only'}")
    return settings


def board_settings(cfg: Config, sip: SipSettings | None) -> dict[str, Any]:
    """What the configuration file says about the board, for the hardware pages (SIP trunks without secrets)."""
    trunks = [{k: v for k, v in dict(t).items() if k not in ("password", "username")} for t in cfg.sip_trunks]
    return {"board_url": cfg.board_url, "trunk_signaling": cfg.trunk_signaling,
            "browser_phones": cfg.browser_phones if cfg.board_url.startswith("sim://") else 0,
            "sip_listen": sip.listen if sip is not None else "", "sip_channels": sip.channels if sip is not None else 0,
            "sip_trunks": trunks}


def sip_port_free(sip: SipSettings) -> bool:
    """True when the SIP listen address can be bound for UDP and TCP."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((sip.host, sip.port))
            except OSError:
                return False
    return True


def voicemail_retention(cfg: Config, summary: StartupSummary) -> VoicemailRetention:
    """The voicemail retention policy of the configuration (its line in the startup summary when active)."""
    policy = VoicemailRetention(cfg.voicemail_retention_days, int(cfg.voicemail_quota_mb * 1e6),
                                cfg.voicemail_unheard_days)
    if policy.active:
        summary.on("voicemail retention", f"{cfg.voicemail_retention_days:g} d / {cfg.voicemail_quota_mb:g} MB "
                   f"(0 = keep), unheard kept {cfg.voicemail_unheard_days:g} d, every {cfg.retention_interval:g} s")
    return policy


async def serve(cfg: Config) -> None:
    """Run the server until cancelled (Ctrl-C)."""
    use_one_blas_thread()
    summary = StartupSummary()
    os.makedirs(cfg.var_dir, exist_ok=True)
    os.makedirs(cfg.recordings_dir, exist_ok=True)
    db = migrate(cfg.database_url)
    factory = make_session_factory(db)
    bootstrap(factory, out=lambda line: print(line, flush=True))   # seen at once, before any log line
    writer = DurableWriter(db, os.path.join(cfg.var_dir, "spool", "records.jsonl"))
    writer.start()
    journal = RunJournal(cfg.var_dir, cfg.interim_seconds)
    journal.recover(writer, [cfg.recordings_dir, os.path.join(cfg.var_dir, "voicemail")])   # after kill -9
    journal.mark_running()
    media_prompts = install_prompts(cfg, summary)
    sim = None
    sip = sip_settings(cfg, summary)
    if sip is not None and not sip_port_free(sip):
        summary.off("SIP", f"{sip.listen} is in use by another program",
                    "stop it or set sip_listen to a free host:port")
        sip = None
    if cfg.board_url.startswith("sim://"):
        rig = SimRig(cfg.board_url, trunk=cfg.trunk_signaling, prompts=media_prompts, zone=cfg.zone, fresh=False,
                     signaling_options=cfg.signaling_options(), sip=sip,
                     browser_phones=cfg.browser_phones)
        sim, board, engine = rig.sim, rig.board, rig.engine
        summary.on("board", f"{cfg.board_url} (card simulator, {cfg.trunk_signaling} far end)")
    else:
        board = open_board(cfg.board_url, sip=sip, browser_phones=cfg.browser_phones)
        engine = Engine(board, prompts=media_prompts, zone=cfg.zone, trunk_signaling=cfg.trunk_signaling,
                        fax_endpoint_factory=FaxEndpoint, fax_bank=FaxBank(),
                        signaling_options=cfg.signaling_options())
        summary.on("board", cfg.board_url)
    board.set_realtime(cfg.realtime)
    engine.t38_endpoint_factory = T38Endpoint     # fax on SIP calls: T.38 first (media/fax_t38.py)
    if board.phones is not None:
        summary.on("browser phones", f"{len(board.phones.phones)} WebRTC station ports (workbench: this browser)")
    engine.overload.configure(cfg.overload_load)
    install_refer(engine)                         # transfers SIP peers ask for (REFER)
    sip_trunks = wire_sip_trunks(factory, sip, engine)    # + the web admin's trunks, reloaded on every save
    drain = Drain(engine, cfg.drain_seconds)      # SIGTERM/SIGINT drain from here on (a second signal: at once)
    drain.install()
    cdrs = CdrRecorder(writer, server=cfg.node_name.strip() or socket.gethostname())
    engine.on_call_end(cdrs)
    dialplan = install_dialplan(engine, factory, writer, server=socket.gethostname())   # every outbound dial
    summary.on("dial plan", f"{len(dialplan.rules)} rules, {len(dialplan.routes)} outbound routes; "
                            "international and premium refused unless a rule allows them")
    sms = start_sms(cfg, factory, simulated=sim is not None, summary=summary)
    engine.sms = sms

    acd = ACD(engine, factory, config={"instance": node_name(cfg), "writer": writer,
                                       "recordings_dir": cfg.recordings_dir})
    summary.on("ACD", f"instance {node_name(cfg)}")
    mail = start_mail(cfg, factory, summary)
    registry = install_flows(engine, cfg, factory, acd, DemoHotline(cfg.recordings_dir, cfg.language), mail=mail)
    test_calls = TestCalls.install(engine)   # the admin's browser phone dials into the inbound route (web admin)
    link_nodes(cfg, acd, sip is not None, summary)    # after the flows: node calls are taken before routing
    campaigns: dict[str, Any] = {}       # name -> ivr.campaign.Campaign, shown and controlled in the web admin
    campaign_manager = make_campaign_manager(engine, cfg, factory, registry, campaigns)   # web-created, in the DB

    alarm_watch = AlarmWatch(engine, factory)       # span alarms raised/cleared -> history (hardware pages)
    hub = Hub(session_factory=factory, engine=engine, acd=acd, writer=writer,
              recordings_dir=cfg.recordings_dir, prompts_dir=cfg.prompts_dir, fax_dir=cfg.fax_dir,
              flows=registry, prompts=registry.services.prompts, sms=sms, campaigns=campaigns,
              campaign_manager=campaign_manager, board_config=board_settings(cfg, sip), alarms=alarm_watch,
              test_calls=test_calls, dialplan=dialplan, sip_trunks=sip_trunks)
    app = create_app({"DATABASE_URL": cfg.database_url, "PROMPTS_DIR": cfg.prompts_dir,
                      "METRICS_ALLOW": cfg.metrics_allow, "HTTPS": cfg.https, "TRUST_PROXY": cfg.trust_proxy,
                      "TIMEZONE": cfg.local_zone, "VOICEMAIL_DIRS": [cfg.voicemail_dir]}, hub)
    stopper = serve_web(app, host=cfg.http_host, port=cfg.http_port)
    summary.on("web admin", f"http://{cfg.http_host}:{cfg.http_port}/")
    summary.on("monitoring",
               f"/healthz for anyone, /metrics for {cfg.metrics_allow or 'nobody'} (TRUNKLINE_METRICS_ALLOW)")
    if sim is not None and cfg.demo_callers:
        summary.on("demo", f"simulated callers dial 95588 every ~{cfg.demo_interval:g} s")
    retention = RetentionPolicy(cfg.recording_retention_days, cfg.cdr_retention_days,
                                int(cfg.recordings_quota_mb * 1e6))
    if retention.active:
        summary.on("retention", f"recordings {cfg.recording_retention_days:g} d / {cfg.recordings_quota_mb:g} MB, "
                   f"CDRs {cfg.cdr_retention_days:g} d (0 = keep), every {cfg.retention_interval:g} s")
    vm_retention = voicemail_retention(cfg, summary)
    summary.on("engine", f"{board.channels} channels, {'real' if cfg.realtime else 'virtual'} time")
    summary.log()

    tasks: list[asyncio.Future[None]] = []
    await acd.start()
    tasks.append(asyncio.ensure_future(_restore_campaigns(campaign_manager)))
    tasks.append(asyncio.ensure_future(alarm_watch.run()))
    if sim is not None and cfg.demo_callers:
        tasks.append(asyncio.ensure_future(demo_callers(sim, cfg)))
    if retention.active:
        tasks.append(asyncio.ensure_future(retention_loop(factory, retention, cfg.retention_interval)))
    if vm_retention.active:
        tasks.append(asyncio.ensure_future(voicemail_retention_loop(factory, vm_retention, cfg.retention_interval)))

    def stop_starting_calls() -> None:
        campaign_manager.stop_all()     # stored state stays running/paused: they carry on at the next start
        for t in tasks:
            t.cancel()

    drain.on_start.append(stop_starting_calls)
    interim = asyncio.ensure_future(journal.run(engine, cdrs))    # interim records of calls in progress
    try:
        if not drain.draining:                    # a signal during the start-up: stop without running
            await engine.run()
    finally:
        drain.uninstall()
        interim.cancel()
        stop_starting_calls()
        for call in list(engine.calls.values()):    # stopped some other way: calls up still get their CDRs
            engine.hangup(call, 16)
        engine.close()                  # every recording closed: WAV headers final
        stopper()
        writer.stop()                   # the queue goes to the database, else stays in the spool file
        if mail is not None:
            mail.stop()
        if sms is not None:
            sms.stop()
        board.close()
        journal.mark_clean()
        log.info("stopped: %d calls offered; records %s", engine.stats["offered"],
                 "partly in the spool file (replayed at the next start)" if writer.spool_pending()
                 else "all in the database")
