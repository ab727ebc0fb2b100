"""YAML flow documents: errors name node and line; the registry keeps the running version on a bad reload."""
import pytest

from trunkline.ivr import flowdoc
from trunkline.ivr.flowdoc import FlowError
from trunkline.ivr.flows import FlowRegistry, Services

GOOD = """\
name: hotline
language: zh
prompts:
  welcome: {zh: 欢迎致电, en: Welcome}
  main: {zh: 查询请按一, en: Press one}
nodes:
  welcome: {type: play, prompt: welcome, next: main}
  main:
    type: menu
    greeting: main
    choices: {"1": balance, "2": bye}
    agent: support
    on_fail: bye
  balance:
    type: get_digits
    var: account
    digits: 8
    mask: true
    next: bye
  bye: {type: hangup}
"""


def test_good_document_parses():
    doc = flowdoc.parse(GOOD)
    assert doc.name == "hotline" and doc.start == "welcome" and doc.lines["balance"] == 14
    assert set(doc.nodes) == {"welcome", "main", "balance", "bye"}
    assert doc.prompts["welcome"]["en"] == "Welcome"


@pytest.mark.parametrize("edit,node,line,text", [
    (("next: main}", "next: mian}"), "welcome", 7, "'next' goes to 'mian'"),
    (("type: menu", "type: manu"), "main", 9, "unknown node type 'manu'"),
    (("    on_fail: bye", "    on_fial: bye"), "main", 13, "unknown key 'on_fial'"),
    (('"2": bye', '"2": nowhere'), "main", 11, "choice '2' goes to 'nowhere'"),
    (("    digits: 8", "    digits: eight"), "balance", 17, "'digits' must be a whole number"),
    (("    mask: true", "    mask: yes please"), "balance", 18, "'mask' must be true or false"),
    (("    var: account\n", ""), "balance", 14, "needs 'var'"),
    (('"1": balance', '"1x": balance'), "main", 11, "keypad digits"),
    (('"2": bye', '"0": bye'), "main", 12, "agent digit '0' is also a menu choice"),
])
def test_errors_name_node_and_line(edit, node, line, text):
    bad = GOOD.replace(*edit)
    assert bad != GOOD
    with pytest.raises(FlowError) as ei:
        flowdoc.parse(bad)
    msg = str(ei.value)
    print(msg)
    assert f"flow 'hotline', node '{node}' (line {line})" in msg and text in msg


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(FlowError, match=r"line 10: YAML syntax error"):
        flowdoc.parse(GOOD.replace("  main:\n    type: menu", "  main:\n    type: menu\n   bad: [", 1))


def test_document_level_errors():
    with pytest.raises(FlowError, match="'nodes' must be a non-empty mapping"):
        flowdoc.parse("name: x\nnodes: []\n")
    with pytest.raises(FlowError, match="unknown top-level key 'node'"):
        flowdoc.parse("name: x\nnode: {}\nnodes: {a: {type: hangup}}\n")
    with pytest.raises(FlowError, match="'start' names 'b'"):
        flowdoc.parse("name: x\nstart: b\nnodes: {a: {type: hangup}}\n")
    with pytest.raises(FlowError, match="duplicate key 'a'"):
        flowdoc.parse("name: x\nnodes:\n  a: {type: hangup}\n  a: {type: hangup}\n")


def test_branch_and_references_checked_against_services():
    text = """\
name: t
nodes:
  a: {type: branch, on: time, calendar: office, open: b, closed: b}
  b: {type: lookup, source: billing, next: c}
  c: {type: subflow, flow: other}
"""
    reg = FlowRegistry(Services(calendars={}, lookups={}))
    with pytest.raises(FlowError) as ei:
        reg.load_yaml(text)
    msg = str(ei.value)
    assert "node 'a' (line 3): no calendar named 'office'" in msg
    assert "node 'b' (line 4): no lookup source named 'billing'" in msg
    assert "node 'c' (line 5): no flow named 'other' is loaded" in msg


def test_bad_reload_keeps_the_running_version():
    reg = FlowRegistry(Services())
    v1 = reg.load_yaml(GOOD)
    with pytest.raises(FlowError):
        reg.load_yaml(GOOD.replace("next: main}", "next: mian}"))
    assert reg.current("hotline") is v1
    v2 = reg.load_yaml(GOOD.replace("digits: 8", "digits: 10"))
    assert reg.current("hotline") is v2 and v2.version == v1.version + 1
    assert v1.obj.nodes["balance"]["digits"] == 8      # calls bound to v1 keep their document


def test_flows_stored_in_db_and_reloaded(tmp_path):
    import trunkline.ivr.models  # noqa: F401
    from trunkline.data.db import Base, make_engine, make_session_factory
    from trunkline.ivr.models import IvrFlow
    eng = make_engine(f"sqlite:///{tmp_path}/f.db")
    Base.metadata.create_all(eng)
    sf = make_session_factory(eng)
    reg = FlowRegistry(Services(session_factory=sf))
    v1 = reg.load_yaml(GOOD, author="admin")
    v2 = reg.load_yaml(GOOD.replace("digits: 8", "digits: 9"))
    assert (v1.version, v2.version) == (1, 2)
    with pytest.raises(FlowError):
        reg.load_yaml(GOOD.replace("type: hangup", "type: hang"))
    with sf() as s:
        assert [r.version for r in s.query(IvrFlow).order_by(IvrFlow.version)] == [1, 2]   # bad one not stored
        # a broken row written behind the registry's back (e.g. by hand) is skipped on start-up
        s.add(IvrFlow(name="hotline", version=3, source=GOOD.replace("next: main}", "next: gone}")))
        s.commit()
    fresh = FlowRegistry(Services(session_factory=sf))
    report = fresh.load_from_db()
    assert report == {"hotline": 2}
    assert fresh.current("hotline").obj.nodes["balance"]["digits"] == 9


def test_python_flows_must_be_coroutines():
    reg = FlowRegistry(Services())

    def not_async(call):
        pass
    with pytest.raises(TypeError, match="not an async def"):
        reg.register("x", not_async)
