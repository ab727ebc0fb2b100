"""The one service context `trunkline run` builds from the database and hands to every flow, to the flow
editor's validation and to the ACD: prompts, calendars, lookup sources, queues, voicemail, fax store, SMS, e-mail.

Calendars, lookup sources and queue names are live views of their tables, so what an admin creates in
the web admin is used by the next call (and accepted by the flow editor) without a restart.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.acd.models import AcdQueue
from trunkline.acd.service import ACD
from trunkline.app.mail import fax_mailer, voicemail_mailer
from trunkline.data.config import Config
from trunkline.data.mail_outbox import MailOutbox
from trunkline.fax.service import FaxStore
from trunkline.ivr.context import DbCalendars, DbLookups, LiveNames
from trunkline.ivr.flows import FlowRegistry, PythonFlow, Services
from trunkline.ivr.prompts import PromptLibrary
from trunkline.ivr.voicemail import Voicemail
from trunkline.media import Call


def queue_names(session_factory: Callable[[], Session]) -> Callable[[], list[str]]:
    """A function returning the names of the ACD's queues as stored now (the web admin adds rows)."""
    def names() -> list[str]:
        with session_factory() as s:
            return list(s.scalars(select(AcdQueue.name).order_by(AcdQueue.name)))
    return names


class RegistryFlows(Mapping[str, PythonFlow]):
    """The ACD's overflow flows: every flow of the registry by name, the version current at each call."""

    def __init__(self, registry: FlowRegistry) -> None:
        self.registry = registry

    def __getitem__(self, name: str) -> PythonFlow:
        if name not in self.registry.names():
            raise KeyError(name)
        return self.registry.handler(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry.names())

    def __len__(self) -> int:
        return len(self.registry.names())


def build_services(cfg: Config, factory: Callable[[], Session], acd: ACD | None, sms: Any = None,
                   mail: MailOutbox | None = None,
                   voicemail_notify: Callable[[str, dict[str, Any]], None] | None = None) -> Services:
    """The service context of the running server (prompts in cfg.prompts_dir, spools under cfg.var_dir).

    With a mail outbox, new voicemail goes to its box's e-mail address and received faxes to their DID's
    fax mailbox (unless `voicemail_notify` replaces the voicemail hook)."""
    prompts = PromptLibrary(cfg.prompts_dir, language=cfg.language, session_factory=factory)
    if mail is not None and voicemail_notify is None:
        voicemail_notify = voicemail_mailer(mail, factory)
    voicemail = Voicemail(factory, cfg.voicemail_dir, prompts, notify=voicemail_notify)
    fax_store = FaxStore(factory, cfg.fax_dir, on_received=fax_mailer(mail, factory) if mail is not None else None)
    return Services(prompts=prompts, session_factory=factory, calendars=DbCalendars(factory),
                    lookups=DbLookups(factory), voicemail=voicemail, acd=acd, data_dir=cfg.var_dir,
                    fax_store=fax_store, queues=LiveNames(queue_names(factory)), sms=sms, mail=mail)


def wire_acd(acd: ACD, services: Services, registry: FlowRegistry) -> None:
    """Give the ACD the context's voicemail (queue key / overflow to voicemail) and the registry's flows."""
    vm = services.voicemail

    async def voicemail(call: Call, box: str) -> None:
        if vm is not None:
            await vm.deposit(call, box, lang=str(getattr(call, "language", "") or "zh"))

    acd.config["voicemail"] = voicemail
    acd.config["flows"] = RegistryFlows(registry)
