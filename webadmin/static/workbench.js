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
    spRender(s);
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
  // ---- the browser softphone (WebRTC to the server's browser station port)
  const sp = window.TLSoftphone ? TLSoftphone(root.dataset.softphone, csrf, $('sp-audio')) : null;
  function spHook(offhook){ return sp.hook(offhook); }
  async function spStart(){ const port = await sp.start(); $('softphone').hidden = false; return port; }
  function spStop(){ const box = $('softphone'); if (box) box.hidden = true; return sp.stop(); }
  let spResuming = false;
  function spRender(s){
    const box = $('softphone'); if (!box) return;
    // signed in with this browser before the page was (re)loaded: connect the media again (same phone)
    if (!sp.pc && s.softphone && s.state !== 'logged_out' && !spResuming){
      spResuming = true; sp.offhook = !!s.softphone.offhook;
      spStart().catch(e => say(String(e && e.message || e), true)).finally(() => { spResuming = false; });
      return;
    }
    if (!sp.pc) return;
    const ph = s.softphone;
    $('sp-status').textContent = s.state === 'ringing' && !sp.offhook ? T.springing : (sp.pc.connectionState === 'connected' ? T.spconnected : sp.pc.connectionState);
    $('sp-answer').disabled = s.state !== 'ringing' || sp.offhook;
    $('sp-hangup').disabled = !sp.offhook;
    // the call went (caller hung up, transferred, hung up from the desk): put the phone back on hook; while
    // consulting (the agent is in wrap-up for the caller, still talking to the other agent) it stays off hook
    if (sp.offhook && ph && ph.offhook && !ph.in_call && s.state !== 'ringing') spHook(false);
  }
  on('sp-answer', () => spHook(true).then(refresh));
  on('sp-hangup', () => spHook(false).then(refresh));
  on('sp-mute', () => { const muted = sp.mute();
    const b = $('sp-mute'); b.setAttribute('aria-pressed', String(muted)); b.textContent = muted ? T.spmuted : T.spmute; });
  for (const k of document.querySelectorAll('.sp-key')) k.addEventListener('click', () => sp.post('dtmf', {digits: k.dataset.digit}));

  on('sign-in', async () => {
    const kind = $('phone-kind').value, body = {cmd: 'login'};
    if (kind === 'browser'){
      try { body.station = String(await spStart()); }
      catch (e){ say(e && e.name === 'NotAllowedError' ? T.spnomic : String(e && e.message || e), true); spStop(); return; }
      return command(body).then(j => { if (!j.ok) spStop(); });
    }
    if (kind === 'station') body.station = $('phone-station').value;
    if (kind === 'number') body.number = $('phone-number').value;
    command(body);
  });
  on('sign-out', () => command({cmd: 'logout'}).then(j => { if (j.ok && sp && sp.pc) spStop(); }));
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
