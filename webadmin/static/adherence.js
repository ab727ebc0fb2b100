(function(){
  const root = document.getElementById('adherence');
  if (!root) return;
  const T = document.getElementById('adherence-strings').dataset;
  function el(tag, text, cls){ const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function render(d){
    document.getElementById('adherence-time').textContent = d.time;
    const sum = document.getElementById('adherence-summary');
    sum.textContent = sum.dataset.text.replace('{s}', d.scheduled).replace('{i}', d.signed_in)
      .replace('{r}', d.ready).replace('{o}', d.out_of_adherence);
    const tb = root.querySelector('tbody'); tb.textContent = '';
    for (const a of d.agents){
      const tr = el('tr', null, a.adherent ? 'adherent' : 'out-of-adherence level-alarm'); tr.dataset.agent = a.agent;
      tr.append(el('td', a.name === a.agent ? a.agent : a.agent + ' ' + a.name), el('td', a.shift || '–'),
        el('td', T[a.scheduled] || a.scheduled), el('td', a.until || '–'), el('td', a.signed_in ? T.yes : T.no),
        el('td', a.ready ? T.yes : T.no), el('td', a.adherent ? T['in'] : T.out));
      tb.append(tr);
    }
    const ul = document.getElementById('adherence-problems'); ul.textContent = '';
    for (const p of d.problems) ul.append(el('li', p));
    ul.hidden = d.problems.length === 0;
  }
  function refresh(){ fetch(root.dataset.url, {credentials: 'same-origin'}).then(r => r.json()).then(render).catch(() => {}); }
  refresh(); setInterval(refresh, 5000);
})();
