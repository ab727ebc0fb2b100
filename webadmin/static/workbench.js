(function(){
  const root = document.getElementById('workbench');
  if (!root) return;
  const $ = id => document.getElementById(id);
  const csrf = (document.querySelector('meta[name=csrf-token]')||{}).content || '';
  const T = $('t-strings').dataset;
  let snap = null, fetched = 0;
  function el(tag, text, cls){ const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function row(tbl, k, v){ const tr = el('tr'); tr.append(el('th', k), el('td', v)); tbl.append(tr); }
  function say(text, bad){ const m = $('msg'); m.textContent = text; m.className = bad ? 'error' : 'ok'; }
  function renderPop(c){
    const pop = $('pop'); pop.textContent = '';
    if (!c){ pop.append(el('em', T.nocall)); return; }
    const t = el('table'); t.id = 'pop-table';
    row(t, T.number, c.number); if (c.name) row(t, T.name, c.name);
    row(t, T.queue, c.queue); row(t, T.wait, c.wait + ' s');
    if (c.choices.length) row(t, T.choices, c.choices.map(d => d.node + ': ' + d.digits).join(' → '));
    if (c.transferred_from) row(t, T.transferred, c.transferred_from.agent + ' (' + c.transferred_from.kind + ')');
    for (const [k, v] of c.lookup) row(t, k, String(v));
    pop.append(t);
  }
  function renderHistory(h){
    const tb = $('history').querySelector('tbody'); tb.textContent = '';
    for (const r of h){
      const tr = el('tr'); tr.dataset.entry = r.entry;
      for (const v of [r.at, r.number, r.queue, r.talk, r.outcome, r.disposition]) tr.append(el('td', String(v)));
      const td = el('td');
      if (r.recording){ const a = el('audio'); a.controls = true; a.preload = 'none'; a.src = r.recording; td.append(a); }
      tr.append(td); tb.append(tr);
    }
  }
  function render(s){
    snap = s; fetched = Date.now();
    const st = $('state'); st.textContent = s.state_label; st.dataset.state = s.state;
    $('reason').textContent = s.reason || '';
    $('in-state').textContent = Math.round(s.in_state);
    const b = $('banner');
    if (s.state === 'ringing'){ b.hidden = false; b.className = 'desk-banner ringing'; $('banner-text').textContent = T.ringing + ' · ' + (s.call ? s.call.number + ' · ' + s.call.queue : ''); }
    else if (s.state === 'busy'){ b.hidden = false; b.className = 'desk-banner busy'; $('banner-text').textContent = s.held ? T.held : T.oncall; }
    else b.hidden = true;
    renderPop(s.call);
    $('wrap-left').textContent = s.state === 'wrapup' ? Math.ceil(s.wrap_left) : '–';
    const on = s.state === 'busy', out = s.state === 'logged_out';
    for (const id of ['hangup', 'transfer', 'consult', 'three-way']) $(id).disabled = !on;
    $('hold').disabled = !on || s.held; $('unhold').disabled = !on || !s.held;
    $('sign-in').disabled = !out; $('sign-out').disabled = out || on || s.state === 'ringing';
    $('ready').disabled = out || on || s.state === 'ringing' || s.state === 'available';
    $('not-ready').disabled = out || on || s.state === 'ringing';
    renderHistory(s.history);
  }
  function refresh(){ return fetch(root.dataset.snapshot).then(r => r.json()).then(render); }
  function command(body){
    return fetch(root.dataset.command, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify(body)}).then(r => r.json().then(j => {
        if (j.ok) say(T.ok, false); else say(j.error, true);
        return refresh().then(() => j);
      }));
  }
  const on = (id, fn) => { const b = $(id); if (b) b.addEventListener('click', fn); };
  on('sign-in', () => {
    const kind = $('phone-kind').value, body = {cmd: 'login'};
    if (kind === 'station') body.station = $('phone-station').value;
    if (kind === 'number') body.number = $('phone-number').value;
    command(body);
  });
  on('sign-out', () => command({cmd: 'logout'}));
  on('ready', () => command({cmd: 'ready'}));
  on('not-ready', () => command({cmd: 'break', reason: $('not-ready-reason').value}));
  on('hangup', () => command({cmd: 'hangup'}));
  on('hold', () => command({cmd: 'hold'}));
  on('unhold', () => command({cmd: 'unhold'}));
  function xfer(kind){ const body = {cmd: 'transfer', kind: kind}; body[$('xfer-type').value] = $('xfer-target').value;
    command(body).then(j => { if (j.ok && kind === 'attended') say(T.consulting, false); }); }
  on('transfer', () => xfer('blind'));
  on('consult', () => xfer('attended'));
  on('three-way', () => { const v = $('conf-number').value.trim(); const body = {cmd: 'conference'};
    if (/^\d{1,2}$/.test(v)) body.port = v; else body.number = v; command(body); });
  on('wrap-more', () => command({cmd: 'wrapup', seconds: Math.ceil((snap && snap.wrap_left) || 0) + 30}));
  on('dispose', () => command({cmd: 'disposition', code: $('disposition').value, note: $('disposition-note').value}));
  on('memo-send', () => fetch(root.dataset.memo, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify({text: $('memo-text').value})}).then(r => r.json()).then(j => {
        if (j.ok){ say(T.ok + ' ' + j.number, false); $('memo-text').value = ''; } else say(j.error, true); }));
  const es = new EventSource(root.dataset.events);
  for (const t of ['call.offered', 'call.answered', 'call.ended', 'call.missed', 'call.transferred', 'agent.state', 'supervisor.monitor'])
    es.addEventListener(t, () => refresh());
  setInterval(() => {
    if (!snap) return;
    const dt = (Date.now() - fetched) / 1000;
    $('in-state').textContent = Math.round(snap.in_state + dt);
    if (snap.state === 'wrapup') $('wrap-left').textContent = Math.max(0, Math.ceil(snap.wrap_left - dt));
  }, 500);
  setInterval(refresh, 5000);
  refresh();
})();
