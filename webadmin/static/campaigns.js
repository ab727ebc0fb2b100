// Campaigns page: refresh every campaign's progress counters from /api/campaigns every 2 s.
(function () {
  const table = document.getElementById('campaigns');
  if (!table) return;
  function refresh() {
    fetch(table.dataset.url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(r => r.ok ? r.json() : null)
      .then(all => {
        if (!all) return;
        table.querySelectorAll('tr[data-campaign]').forEach(tr => {
          const p = all[tr.dataset.campaign];
          if (!p) return;
          tr.querySelectorAll('td[data-key]').forEach(td => {
            const v = p[td.dataset.key];
            td.textContent = v === undefined ? '' : String(v);
          });
        });
      })
      .catch(() => {});
  }
  setInterval(refresh, 2000);
})();
