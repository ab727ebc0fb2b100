// IVR flow editor: the diagram beside the text (nodes, their branches, problems), redrawn as the admin types.
(function () {
  "use strict";
  var src = document.getElementById("source"), box = document.getElementById("flow-diagram");
  if (!src || !box) return;
  var words = JSON.parse((document.getElementById("flow-i18n") || {}).textContent || "{}");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var timer = null, seq = 0;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function draw(d) {
    var frag = document.createDocumentFragment();
    (d.problems || []).forEach(function (p) {
      frag.appendChild(el("p", "error", (p[0] ? (words.line || "line") + " " + p[0] + ": " : "") + p[1]));
    });
    (d.nodes || []).forEach(function (n) {
      var card = el("div", "flow-node" + (n.problems.length ? " has-error" : "") + (n.name === d.start ? " start" : ""));
      card.dataset.node = n.name;
      card.appendChild(el("strong", "", n.name));
      card.appendChild(el("span", "muted", " " + n.type));
      var ul = el("ul");
      n.edges.forEach(function (e) { ul.appendChild(el("li", "", e[0] + " → " + e[1])); });
      n.problems.forEach(function (p) { ul.appendChild(el("li", "field-error", p)); });
      card.appendChild(ul);
      frag.appendChild(card);
    });
    box.replaceChildren(frag);
  }
  function update() {
    var mine = ++seq;
    fetch(box.dataset.url, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                            body: JSON.stringify({source: src.value}), credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (d) { if (mine === seq) draw(d); })
      .catch(function () {});
  }
  src.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 400); });
  update();
})();
