(function(){
  const root = document.getElementById('console');
  if (!root) return;
  const $ = id => document.getElementById(id);
  const csrf = (document.querySelector('meta[name=csrf-token]')||{}).content || '';
  const T = $('s-strings').dataset;
  function el(tag, text, cls){ const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function say(text, bad){ const m = $('msg'); m.textContent = text; m.className = bad ? 'error' : 'ok'; }
  function act(agent, body){
    if (body.cmd === 'monitor'){
      if ($('sup-phone-kind').value === 'station') body.port = $('sup-station').value; else body.number = $('sup-number').value;
      say(T.ringing, false);
    }
    return fetch(root.dataset.command.replace('AGENT', encodeURIComponent(agent)), {method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify(body)})
      .then(r => r.json()).then(j => { if (j.ok) say(T.ok, false); else say(j.error, true); refresh(); });
  }
  function button(agent, label, cls, body){ const b = el('button', label, cls); b.type = 'button'; b.dataset.agent = agent;
    b.addEventListener('click', () => act(agent, body)); return b; }
  function render(s){
    const qb = $('queues').querySelector('tbody'); qb.textContent = '';
    for (const q of s.queues){
      const tr = el('tr'); tr.dataset.queue = q.name;
      tr.append(el('td', q.name), el('td', String(q.waiting)), el('td', String(q.longest_wait), 'level-' + q.wait_level),
        el('td', q.service_level == null ? '–' : String(q.service_level), 'level-' + q.sl_level), el('td', String(q.answered)),
        el('td', String(q.abandoned)), el('td', q.available + ' / ' + q.logged_in));
      qb.append(tr);
    }
    const ab = $('agents').querySelector('tbody'); ab.textContent = '';
    for (const a of s.agents){
      const tr = el('tr', null, 'state-' + a.state); tr.dataset.agent = a.id;
      const actions = el('td');
      if (a.state === 'busy'){
        actions.append(button(a.id, T.listen, 'listen', {cmd: 'monitor', mode: 'listen'}),
          button(a.id, T.whisper, 'whisper', {cmd: 'monitor', mode: 'whisper'}),
          button(a.id, T.barge, 'barge', {cmd: 'monitor', mode: 'barge'}));
      } else if (a.state !== 'logged_out' && a.state !== 'ringing'){
        if (a.state !== 'available') actions.append(button(a.id, T.ready, 'force-ready', {cmd: 'force_ready'}));
        actions.append(button(a.id, T.notready, 'force-not-ready', {cmd: 'force_break', get reason(){ return $('sup-reason').value; }}),
          button(a.id, T.signout, 'force-sign-out', {cmd: 'force_logout'}));
      }
      tr.append(el('td', a.name + ' (' + a.id + ')'), el('td', a.state_label + (a.reason ? ' · ' + a.reason : ''), 'state'),
        el('td', String(Math.round(a.in_state)), 'level-' + a.level), el('td', a.caller), el('td', a.queue),
        el('td', String(a.handled)), el('td', String(a.asa)), el('td', String(a.aht)), actions);
      ab.append(tr);
    }
    const al = $('alerts'); al.textContent = '';
    for (const x of s.alerts) al.append(el('p', x.text, 'alert level-' + x.level));
  }
  function refresh(){ return fetch(root.dataset.snapshot).then(r => r.json()).then(render); }
  const es = new EventSource(root.dataset.events);
  for (const t of ['call.offered', 'call.answered', 'call.ended', 'agent.state', 'queue.joined', 'queue.left', 'supervisor.monitor'])
    es.addEventListener(t, () => refresh());
  setInterval(refresh, 2000);
  refresh();
})();
