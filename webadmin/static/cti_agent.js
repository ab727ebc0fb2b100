(function(){
  const root = document.getElementById('agent');
  const csrf = (document.querySelector('meta[name=csrf-token]')||{}).content || '';
  const $ = id => document.getElementById(id);
  function esc(s){return String(s==null?'':s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
  function showPop(d, cls){
    const pop = $('pop'); pop.className = 'pop ' + (cls||'');
    let rows = '<table><tr><th>Caller</th><td>'+esc(d.caller_id)+'</td></tr><tr><th>Called</th><td>'+esc(d.called)+
      '</td></tr><tr><th>Queue</th><td>'+esc(d.queue)+'</td></tr><tr><th>Waited</th><td>'+esc(d.wait)+' s</td></tr>';
    const data = d.data || {};
    for (const k of Object.keys(data)) rows += '<tr><th>'+esc(k)+'</th><td>'+esc(typeof data[k]==='object'?JSON.stringify(data[k]):data[k])+'</td></tr>';
    pop.innerHTML = rows + '</table>';
  }
  function setState(s, r){ $('state').textContent = s; $('reason').textContent = r||''; }
  fetch(root.dataset.stateUrl).then(r=>r.json()).then(a=>{ setState(a.state, a.reason); if(a.call) showPop(a.call, a.state); });
  const es = new EventSource(root.dataset.events);
  function log(d){ const li=document.createElement('li'); li.textContent = d.type+' '+JSON.stringify(d); $('log').prepend(li); }
  es.addEventListener('call.offered', e=>{const d=JSON.parse(e.data); showPop(d,'ringing'); log(d);});
  es.addEventListener('call.answered', e=>{const d=JSON.parse(e.data); showPop(d,'busy'); log(d);});
  es.addEventListener('call.ended', e=>{const d=JSON.parse(e.data); $('pop').className='pop'; log(d);});
  es.addEventListener('call.missed', e=>{const d=JSON.parse(e.data); $('pop').className='pop'; $('pop').innerHTML='<em>Missed call.</em>'; log(d);});
  es.addEventListener('call.transferred', e=>log(JSON.parse(e.data)));
  es.addEventListener('agent.state', e=>{const d=JSON.parse(e.data); setState(d.state, d.reason); log(d);});
  es.addEventListener('supervisor.monitor', e=>log(JSON.parse(e.data)));
  const memo = $('memo-send');
  if (memo) memo.addEventListener('click', ()=>{
    fetch(memo.dataset.memoUrl, {method:'POST', headers:{'Content-Type':'application/json','X-CSRF-Token':csrf},
      body: JSON.stringify({text: $('memo-text').value})}).then(r=>r.json()).then(j=>{
      $('msg').textContent = j.ok ? ('memo queued to '+j.number) : ('error: '+j.error); if (j.ok) $('memo-text').value=''; });
  });
  root.querySelectorAll('button[data-cmd]').forEach(b=>b.addEventListener('click', ()=>{
    const body = {cmd: b.dataset.cmd};
    if (body.cmd==='break') body.reason = $('reason-select').value;
    if (body.cmd==='wrapup') body.seconds = 30;
    if (body.cmd==='transfer'){ body[$('xfer-type').value] = $('xfer-target').value; body.kind = $('xfer-kind').value; }
    fetch(root.dataset.commandUrl, {method:'POST', headers:{'Content-Type':'application/json','X-CSRF-Token':csrf},
      body: JSON.stringify(body)}).then(r=>r.json()).then(j=>{ $('msg').textContent = j.ok ? 'ok' : ('error: '+j.error); });
  }));
})();
