"""trunkline.ivr: call flows, menus, prompts, say-number, voicemail, hours, firewall, lookups, survey, CDR path.

Wiring on an engine (what the server does)::

    from trunkline.ivr.flows import FlowRegistry, Router, Services
    from trunkline.ivr.prompts import PromptLibrary
    from trunkline.ivr.voicemail import Voicemail
    from trunkline.ivr import blacklist

    prompts = PromptLibrary("var/prompts", language="zh", session_factory=db)
    services = Services(prompts=prompts, session_factory=db, calendars={...}, lookups={...},
                        voicemail=Voicemail(db, "var/voicemail", prompts), acd=acd, data_dir="var")
    registry = FlowRegistry(services)
    registry.register("hotline", hotline)          # async def hotline(call)
    registry.load_from_db()                        # YAML flows stored in ivr_flows
    blacklist.configure(db)
    Router(registry, default="hotline").install(engine)   # firewall before answer + flow per call

The ACD sits above the IVR: it comes in as ``Services(acd=...)`` and the IVR knows it only through
`services.CallQueue` (``enqueue(call, queue, data=, priority=)``).

Modules: say (readings as prompt fragments), prompts (library, TTS, upload, record by phone),
flowdoc (YAML parse + validation), node_schema (node types: keys and validation), nodes (node
runners), menu, services (what flows run against), flows (registry, interpreter, router),
voicemail, calendar, blacklist, lookup, survey, cdr (path/digits -> CDR), models (ivr_ tables),
campaign / campaign_store / amd (outbound campaigns), demo (the demo hotline).
"""
