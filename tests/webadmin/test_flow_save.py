"""Saving an IVR flow on the web admin against the running registry (prompts checked): a missing prompt is an
error on its line with the text kept (never a 500), "save as draft" keeps the text as a version that does
not go live, a valid text goes live."""
import html

from web_fixtures import csrf_of, login, make_app

from trunkline.data import db
from trunkline.ivr.flows import FlowRegistry
from trunkline.ivr.models import IvrFlow
from trunkline.ivr.prompts import PromptLibrary
from trunkline.ivr.services import Services

GOOD = """\
name: sales
language: en
prompts:
  hi: {en: Hello}
nodes:
  start: {type: play, prompt: hi, next: bye}
  bye: {type: hangup}
"""
MISSING_PROMPT = GOOD.replace("prompt: hi,", "prompt: nosuchprompt,")


def test_flow_save_reports_missing_prompt_on_its_line_keeps_text_and_drafts(tmp_path):
    app, hub = make_app(tmp_path)
    lib = PromptLibrary(str(tmp_path / "prompts"), language="en", tts=False, session_factory=hub.session_factory)
    hub.flows = FlowRegistry(Services(prompts=lib, session_factory=hub.session_factory))
    c = app.test_client()
    login(c, "super")
    tok = csrf_of(c.get("/config/flows/edit").get_data(as_text=True))
    r = c.post("/config/flows/edit", data={"name": "", "source": GOOD, "csrf_token": tok})
    assert r.status_code == 200 and hub.flows.current("sales").version == 1
    r = c.post("/config/flows/edit", data={"name": "sales", "source": MISSING_PROMPT, "csrf_token": tok})
    page = r.get_data(as_text=True)
    assert r.status_code == 422, page[-500:]
    assert 'data-line="6"' in page and "nosuchprompt" in page            # on the node's line
    assert "prompt: nosuchprompt" in html.unescape(page)                  # the text is still in the editor
    assert 'id="save-draft"' in page
    r = c.post("/config/flows/edit", data={"name": "sales", "source": MISSING_PROMPT, "draft": "1",
                                           "csrf_token": tok})
    assert r.status_code == 422 and 'id="flow-draft"' in r.get_data(as_text=True)
    with db.session_scope(hub.session_factory) as s:
        assert [(f.version, "nosuchprompt" in f.source) for f in s.query(IvrFlow).order_by(IvrFlow.version)] == \
            [(1, False), (2, True)]
    assert hub.flows.current("sales").version == 1                        # the draft did not go live
    assert "nosuchprompt" in c.get("/config/flows/edit?name=sales").get_data(as_text=True)   # reopened
    bad_yaml = "name: x\nnodes: [\n"
    r = c.post("/config/flows/edit", data={"name": "x", "source": bad_yaml, "csrf_token": tok})
    assert r.status_code == 422 and "nodes: [" in html.unescape(r.get_data(as_text=True))


def test_diagram_json_nodes_branches_and_problems(tmp_path):
    app, hub = make_app(tmp_path)
    lib = PromptLibrary(str(tmp_path / "prompts"), language="en", tts=False, session_factory=hub.session_factory)
    hub.flows = FlowRegistry(Services(prompts=lib, session_factory=hub.session_factory))
    c = app.test_client()
    login(c, "super")
    tok = csrf_of(c.get("/").get_data(as_text=True))
    d = c.post("/config/flows/diagram", json={"source": MISSING_PROMPT}, headers={"X-CSRF-Token": tok}).get_json()
    nodes = {n["name"]: n for n in d["nodes"]}
    assert d["start"] == "start" and nodes["start"]["edges"] == [["next", "bye"]] and nodes["bye"]["type"] == "hangup"
    assert any("nosuchprompt" in p for p in nodes["start"]["problems"]) and nodes["bye"]["problems"] == []
    d = c.post("/config/flows/diagram", json={"source": "nodes: ["}, headers={"X-CSRF-Token": tok}).get_json()
    assert d["nodes"] == [] and d["problems"]
