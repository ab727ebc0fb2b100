(function(){
  const root = document.getElementById('console');
  if (!root) return;
  const $ = id => document.getElementById(id);
  const csrf = (document.querySelector('meta[name=csrf-token]')||{}).content || '';
  const T = $('s-strings').dataset;
  function el(tag, text, cls){ const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function say(text, bad){ const m = $('msg'); m.textContent = text; m.className = bad ? 'error' : 'ok'; }
  // the supervisor's browser phone ("this browser"): listen / whisper / barge ring it; the page answers that ring
  const sp = root.dataset.softphone && window.TLSoftphone ? TLSoftphone(root.dataset.softphone, csrf) : null;
  let spAnswering = false;                 // a monitor request of this page is ringing its phone
  function spRender(ph){
    if (!sp || !sp.pc) return;
    $('sup-sp-status').textContent = ph && ph.in_call && ph.offhook ? T.spincall : (sp.connection() === 'connected' ? T.spconnected : sp.connection());
    $('sup-sp-hangup').disabled = !sp.offhook;
    if (sp.offhook && ph && ph.offhook && !ph.in_call && !spAnswering) sp.hook(false);     // the monitored call went
  }
  function spRefresh(){ return sp && sp.pc ? sp.state().then(spRender) : Promise.resolve(); }
  async function spReady(){
    if (!sp.pc){ await sp.start(); $('sup-softphone').hidden = false; }
    const ph = await sp.state();
    if (ph && ph.offhook && !ph.in_call) await sp.hook(false);       // a finished listen left it off hook
    return sp.port;
  }
  function spAnswerRing(){                                           // answer the ring this page asked for
    const poll = () => sp.state().then(ph => {
      if (ph && ph.ringing && !ph.offhook) return sp.hook(true).then(spRefresh);
      if (ph && ph.offhook && ph.in_call) return spRefresh();
      if (spAnswering) setTimeout(poll, 150);
    });
    poll();
  }
  async function act(agent, body){
    if (body.cmd === 'monitor'){
      const kind = $('sup-phone-kind').value;
      if (kind === 'browser'){
        try { body.port = String(await spReady()); }
        catch (e){ say(e && e.name === 'NotAllowedError' ? T.spnomic : String(e && e.message || e), true); sp.stop(); return; }
        spAnswering = true; spAnswerRing();
      } else if (kind === 'station') body.port = $('sup-station').value; else body.number = $('sup-number').value;
      say(T.ringing, false);
    }
    return fetch(root.dataset.command.replace('AGENT', encodeURIComponent(agent)), {method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify(body)})
      .then(r => r.json()).then(j => { spAnswering = false; if (j.ok) say(T.ok, false); else say(j.error, true); refresh(); },
        e => { spAnswering = false; say(String(e), true); });
  }
  if (sp){
    $('sup-sp-hangup').addEventListener('click', () => sp.hook(false).then(spRefresh));
    $('sup-sp-mute').addEventListener('click', () => { const muted = sp.mute(), b = $('sup-sp-mute');
      b.setAttribute('aria-pressed', String(muted)); b.textContent = muted ? T.spmuted : T.spmute; });
    $('sup-phone-kind').addEventListener('change', () => {
      if ($('sup-phone-kind').value !== 'browser' && sp.pc){ sp.stop(); $('sup-softphone').hidden = true; } });
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
  function refresh(){ spRefresh(); return fetch(root.dataset.snapshot).then(r => r.json()).then(render); }
  const es = new EventSource(root.dataset.events);
  for (const t of ['call.offered', 'call.answered', 'call.ended', 'agent.state', 'queue.joined', 'queue.left', 'supervisor.monitor'])
    es.addEventListener(t, () => refresh());
  setInterval(refresh, 2000);
  refresh();
})();
