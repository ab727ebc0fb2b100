// Live pages: one EventSource per page; renders channels, agents or the queue wallboard.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) return;
  var topic = root.dataset.topic, statusEl = document.getElementById("live-status");
  var words = JSON.parse((document.getElementById("live-i18n") || {}).textContent || "{}");
  function T(key) { return words[key] || key; }
  function term(v) { return v === null || v === undefined ? "" : (words["term:" + v] || String(v)); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function dur(s) {
    s = Math.floor(s || 0);
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
  }
  function table(headers, rows, id) {
    var t = el("table", {id: id}), tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    var th = el("thead"); th.appendChild(tr); t.appendChild(th);
    var tb = el("tbody");
    rows.forEach(function (r) { tb.appendChild(r); });
    t.appendChild(tb);
    return t;
  }
  function row(cells, attrs) {
    var tr = el("tr", attrs || {});
    cells.forEach(function (c) {
      var td = el("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function alarms(list) {
    var span = el("span");
    (list || []).forEach(function (a) { span.appendChild(el("span", {"class": "alarm"}, a)); span.appendChild(document.createTextNode(" ")); });
    return span;
  }

  function engineHealth(e) {
    var box = document.getElementById("engine-health");
    if (!box || !e) return;
    function set(id, v, cls) { var x = document.getElementById(id); if (x) { x.textContent = v; x.className = cls || ""; } }
    var st = document.getElementById("eh-state");
    var key = !e.running ? "stopped" : e.overloaded ? "overloaded" : e.accepting === false ? "draining" : "ok";
    set("eh-state", st.dataset[key], key === "ok" ? "" : "alarm");
    if (e.load !== undefined) set("eh-load", Math.round(e.load * 100) + " % / " + Math.round(e.max_load * 100) + " %",
                                  e.overloaded ? "alarm" : "");
    set("eh-late", e.ticks_late !== undefined ? e.ticks_late + " / " + e.ticks : "");
    set("eh-worst", e.tick_worst_ms !== undefined ? e.tick_worst_ms : "");
    set("eh-rejected", e.rejected_overload !== undefined ? e.rejected_overload : "");
    var w = document.getElementById("eh-writer");
    set("eh-writer", e.writer_alarm ? e.writer_alarm : w.dataset.ok, e.writer_alarm ? "alarm" : "");
  }

  var render = {
    channels: function (d) {
      engineHealth(d.engine);
      var frag = document.createDocumentFragment();
      frag.appendChild(el("p", {id: "busy-count"}, T("busy_of").replace("%(busy)s", d.busy).replace("%(total)s", d.total)));
      frag.appendChild(table([T("Span"), T("Kind"), T("Channels"), T("Busy"), T("Alarms"), T("Signaling")], d.spans.map(function (s) {
        return row([s.span, s.kind, s.channels, s.busy, alarms(s.alarms), s.signaling || ""]);
      }), "spans"));
      frag.appendChild(table([T("Span"), T("Channel"), T("State"), T("Caller"), T("Called"), T("Duration"), T("Call")], d.channels.map(function (c) {
        return row([c.span, c.channel, term(c.state), c.caller, c.called, c.state === "idle" ? "" : dur(c.duration), c.call_id || ""],
                   {"class": "state-" + c.state, "data-call": c.call_id || ""});
      }), "channels"));
      return frag;
    },
    agents: function (d) {
      return table([T("Agent"), T("Name"), T("State"), T("Reason"), T("In state"), T("Calls")], d.agents.map(function (a) {
        var t = a.in_state !== undefined ? a.in_state : a.time_in_state;
        return row([a.id, a.name, term(a.state), term(a.reason || ""), dur(t), a.calls !== undefined ? a.calls : a.calls_taken],
                   {"class": "state-" + a.state});
      }), "agents");
    },
    queues: function (d) {
      var frag = document.createDocumentFragment(), t = d.today || {};
      var wall = el("div", {"class": "wall", id: "wall"});
      function tile(label, value, id) {
        var x = el("div", {"class": "tile"}); x.appendChild(el("div", {"class": "big", id: id}, value));
        x.appendChild(el("div", {}, label)); wall.appendChild(x);
      }
      var waiting = 0, longest = 0, avail = 0;
      d.queues.forEach(function (q) { waiting += q.waiting || 0; longest = Math.max(longest, q.longest_wait || 0); avail += q.available || 0; });
      tile(T("waiting calls"), waiting, "w-waiting");
      tile(T("longest wait"), dur(longest), "w-longest");
      tile(T("agents available"), avail, "w-available");
      tile(T("calls today"), t.offered || 0, "w-offered");
      tile(T("service level") + " (" + d.sl_seconds + " s)", (t.service_level === null || t.service_level === undefined ? "-" : t.service_level) + " %", "w-sl");
      tile(T("abandon rate"), (t.abandon_rate || 0) + " %", "w-abandon");
      tile(T("ASA"), dur(t.asa), "w-asa");
      tile(T("avg talk"), dur(t.avg_talk), "w-talk");
      tile(T("avg handle"), dur(t.aht), "w-aht");
      frag.appendChild(wall);
      frag.appendChild(table([T("Queue"), T("Waiting"), T("Longest wait"), T("Available"), T("Logged in"), T("Busy"), T("On break"),
                              T("EWT"), T("Answered"), T("Abandoned"), T("SL today")], d.queues.map(function (q) {
        function opt(v) { return v === undefined || v === null ? "" : v; }
        return row([q.name, q.waiting, dur(q.longest_wait), q.available, opt(q.logged_in), opt(q.busy),
                    opt(q.on_break), q.ewt === undefined ? "" : dur(q.ewt), opt(q.answered), opt(q.abandoned),
                    q.error ? T("problem") + ": " + q.error : opt(q.service_level)], q.error ? {"class": "bad-config"} : {});
      }), "queues"));
      var ph = t.per_hour || [], max = Math.max.apply(null, ph.concat([1]));
      var svg = '<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="720" height="140" font-family="Noto Sans CJK SC,WenQuanYi Micro Hei,Microsoft YaHei,sans-serif">';
      ph.forEach(function (n, h) {
        var bh = 110 * n / max;
        svg += '<rect x="' + (h * 30 + 2) + '" y="' + (115 - bh) + '" width="26" height="' + bh + '" fill="#2b6cb0"></rect>' +
               '<text x="' + (h * 30 + 15) + '" y="130" font-size="9" text-anchor="middle">' + h + '</text>';
      });
      var box = el("div"); box.appendChild(el("h2", {}, T("per hour")));
      var holder = el("div"); holder.innerHTML = svg + "</svg>"; box.appendChild(holder);
      frag.appendChild(box);
      return frag;
    }
  };

  var es = new EventSource(root.dataset.stream);
  es.addEventListener(topic, function (ev) {
    var d = JSON.parse(ev.data);
    root.replaceChildren(render[topic](d));
    statusEl.textContent = T("live") + " · " + new Date().toLocaleTimeString(document.documentElement.lang || undefined, root.dataset.zone ? {timeZone: root.dataset.zone} : {});
  });
  es.onerror = function () { statusEl.textContent = T("reconnecting"); };
})();
