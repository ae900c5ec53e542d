/* cab report: copy buttons, expandable rows and sortable tables. No dependencies. */
(function () {
  "use strict";

  /* Copy the text of the element named by data-copy. */
  function copyText(text, button) {
    function done() {
      var old = button.textContent;
      button.classList.add("done");
      button.textContent = "copied";
      setTimeout(function () { button.classList.remove("done"); button.textContent = old; }, 1200);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else { fallback(text); done(); }
  }
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    document.body.removeChild(area);
  }

  /* A button with aria-controls shows or hides its target. */
  function toggle(button) {
    var target = document.getElementById(button.getAttribute("aria-controls"));
    if (!target) return;
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    target.hidden = !open;
    var row = button.closest("tr");
    if (row) row.classList.toggle("open", open);
    if (button.dataset.labelOpen || button.textContent === "details" || button.textContent === "hide") {
      button.textContent = open ? "hide" : "details";
    }
  }

  document.addEventListener("click", function (ev) {
    var copy = ev.target.closest("[data-copy]");
    if (copy) {
      var el = document.getElementById(copy.getAttribute("data-copy"));
      if (el) copyText(el.textContent, copy);
      return;
    }
    var exp = ev.target.closest("button.expander");
    if (exp) toggle(exp);
  });

  /* Sortable tables: each th[data-type] holds a button; cells carry data-sort (JSON numbers, or text). */
  function sortKey(cell, type) {
    var raw = cell ? (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent) : "";
    if (type === "num") {
      if (raw === "" || raw === "null" || raw === "NaN") return null;
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw.trim().toLowerCase();
  }

  function sortTable(table, th) {
    var headers = Array.prototype.slice.call(th.parentNode.children);
    var index = headers.indexOf(th);
    var type = th.getAttribute("data-type") || "text";
    var current = th.getAttribute("aria-sort");
    /* numbers start high-to-low (best first for rates), text A-Z; a second click reverses */
    var dir = current ? (current === "ascending" ? "descending" : "ascending") : (type === "num" ? "descending" : "ascending");
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) { return { row: row, key: sortKey(row.cells[index], type), i: i }; });
    var sign = dir === "ascending" ? 1 : -1;
    keyed.sort(function (a, b) {
      if (a.key === null && b.key === null) return a.i - b.i;
      if (a.key === null) return 1;  /* missing values always last */
      if (b.key === null) return -1;
      if (a.key < b.key) return -sign;
      if (a.key > b.key) return sign;
      return a.i - b.i;
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k.row); });
    body.appendChild(frag);
  }

  function initSortable(table) {
    var ths = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(ths, function (th) {
      var btn = th.querySelector("button");
      if (!btn) return;
      btn.addEventListener("click", function () { sortTable(table, th); });
    });
  }

  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), initSortable);
    document.documentElement.setAttribute("data-ready", "1");
    if (window.performance && performance.mark) performance.mark("cab-ready");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
