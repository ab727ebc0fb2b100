"""Words the pages show for stored values (states, outcomes, roles, directions, column names) in the user's
language: the `term` template filter; an unknown value is shown as it is."""
from __future__ import annotations

from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


def terms() -> dict[str, str]:
    """Stored value -> its label in the current language."""
    return {
        # call outcomes and directions
        "answered": _("answered"), "completed": _("completed"), "transferred": _("transferred"),
        "abandoned": _("abandoned"), "abandon": _("abandoned"), "voicemail": _("voicemail"), "failed": _("failed"),
        "busy": _("busy"), "noanswer": _("no answer"), "rejected": _("rejected"), "timeout": _("timed out"),
        "overflow": _("overflow"), "callback": _("callback"), "hangup": _("hung up"), "empty": _("no agents"),
        "in": _("in"), "out": _("out"),
        # agent and channel states
        "available": _("available"), "ringing": _("ringing"), "wrapup": _("wrap-up"), "break": _("on break"),
        "logged_out": _("logged out"), "idle": _("idle"), "up": _("up"), "down": _("down"),
        "dialing": _("dialing"), "offered": _("offered"),
        # queue strategies
        "ring-all": _("ring all agents at once"), "longest-idle": _("longest idle agent first"),
        "round-robin": _("round robin"), "fewest-calls": _("fewest calls first"),
        "least-talk-time": _("least talk time first"), "top-down": _("in listed order"), "random": _("random"),
        "weighted-random": _("weighted random"), "skills-based": _("best skill match"),
        # roles
        "admin": _("administrator"), "supervisor": _("supervisor"), "agent": _("agent"), "viewer": _("viewer"),
        # campaigns
        "running": _("running"), "paused": _("paused"), "stopped": _("stopped"), "finished": _("finished"),
        "pending": _("pending"), "done": _("done"), "total": _("total"), "active": _("active"), "dials": _("dials"),
        "human": _("human"), "machine": _("machine"), "fax": _("fax"), "silence": _("silence"),
        "congestion": _("congestion"), "unallocated": _("unallocated"), "dnc": _("do not call"),
        "blacklisted": _("blacklisted"), "interrupted": _("interrupted"), "state": _("state"),
        "pause": _("Pause"), "resume": _("Resume"), "stop": _("Stop"), "create": _("create"), "update": _("update"),
        "delete": _("delete"), "password": _("password"),
        # SMS and fax status, voicemail folders, prompt sources, languages
        "queued": _("queued"), "sent": _("sent"), "received": _("received"), "ok": _("ok"),
        "INBOX": _("new"), "Old": _("old"), "new": _("new"), "old": _("old"),
        "tts": _("speech synthesis"), "upload": _("uploaded"), "phone": _("recorded by phone"),
        "generated": _("generated"), "zh": _("Chinese"), "en": _("English"),
        # configuration columns
        "name": _("name"), "strategy": _("strategy"), "options": _("options"), "enabled": _("enabled"),
        "id": _("ID"), "pin": _("PIN"), "station_port": _("station port"), "number": _("number"), "host": _("host"),
        "queue": _("queue"), "penalty": _("penalty"), "position": _("position"), "weight": _("weight"),
        "skill": _("skill"), "level": _("level"), "timezone": _("time zone"), "weekly": _("weekly hours"),
        "calendar_id": _("calendar"), "day": _("day"), "kind": _("kind"), "hours": _("hours"),
        "pattern": _("pattern"), "match": _("match"), "action": _("action"), "flow": _("flow"),
        "cause": _("cause"), "note": _("note"), "box": _("box"), "email": _("e-mail"),
        "max_seconds": _("max seconds"), "url": _("URL"), "board_id": _("board"), "trunk": _("trunk"),
        "law": _("companding law"), "channels": _("channels"), "role": _("role"), "cidr": _("network (CIDR)"),
        "wrapup_s": _("wrap-up s"), "ring_timeout": _("ring timeout s"), "max_wait": _("max wait s"),
        "service_level": _("service level s"), "moh": _("music on hold"),
        # music-on-hold classes
        "default": _("default"),
        # recording policies (routes, queues, campaigns)
        "none": _("record nothing"), "ivr": _("IVR part"), "whole": _("whole call"),
        # dial plan (#16): actions, roles that dial, destination classes, outcomes
        "allow": _("allow"), "deny": _("deny"), "*": _("every role"), "campaign": _("campaign"),
        "acd": _("ACD (ringing agents, callbacks)"), "system": _("system (other dials)"),
        "emergency": _("emergency"), "service": _("service number"), "internal": _("internal"),
        "local": _("local"), "mobile": _("mobile"), "national": _("national long distance"),
        "international": _("international"), "premium": _("premium rate"), "other": _("other"),
        "refused": _("refused"),
    }


def verb(action: str) -> str:
    """A campaign action as a verb inside a sentence ("pause", "resume", "stop") in the current language."""
    return {"pause": _("pause"), "resume": _("resume"), "stop": _("stop")}.get(action, action)


def term(value: object) -> str:
    """The label of a stored value in the current language (the value itself when not a known word)."""
    if value is None:
        return ""
    text = str(value)
    return terms().get(text, text)


def http_message(exc: HTTPException) -> str:
    """The text of an HTTP error page: the reason given, else the standard one in the user's language."""
    if exc.description and exc.description != type(exc).description:
        return str(exc.description)
    return {400: _("The request was not understood."), 401: _("Please log in."),
            403: _("You are not allowed to open this page."), 404: _("This page or file does not exist."),
            405: _("This action is not allowed here."), 413: _("The upload is too large."),
            429: _("Too many requests; wait a moment."),
            501: _("Not available in this server.")}.get(exc.code or 500, _("Internal error (logged)."))
