/* cab report: step through a cell's trace. ←/→ step a span, space plays; the terminal moves the cursor. */
(function () {
  "use strict";
  var root = document.querySelector(".trace");
  if (!root) return;
  var rows = Array.prototype.slice.call(root.querySelectorAll(".tl-row[data-index]"));
  var details = root.querySelectorAll(".sd");
  var cursor = root.querySelector(".tl-cursor");
  var clock = root.querySelector(".tl-clock");
  var playBtn = root.querySelector('[data-act="play"]');
  var total = parseFloat(root.getAttribute("data-total")) || 1;
  var launch = JSON.parse(root.getAttribute("data-launch") || "null");
  var selected = -1;
  var t = 0;
  var playing = false;
  var raf = 0;
  if (!rows.length) return;

  function fmt(ms) {
    if (ms < 10) return ms.toFixed(1) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }
  function start(i) { return parseFloat(rows[i].getAttribute("data-start")); }

  /* The cursor sits over the tracks: from the track's left edge, in proportion to t. */
  function placeCursor() {
    var track = rows[0].querySelector(".tl-track");
    var box = root.querySelector(".timeline").getBoundingClientRect();
    var tb = track.getBoundingClientRect();
    var x = tb.left - box.left + (tb.width * Math.min(Math.max(t / total, 0), 1));
    cursor.style.left = x + "px";
    cursor.style.display = "block";
    clock.textContent = "t = " + fmt(t) + " / " + fmt(total) + (selected >= 0 ? " · span " + (selected + 1) + " of " + rows.length : "");
    rows.forEach(function (row, i) { row.classList.toggle("seen", start(i) <= t); });
  }

  function select(i, moveCursor) {
    if (i < 0 || i >= rows.length) return;
    selected = i;
    rows.forEach(function (row, j) { row.classList.toggle("sel", j === i); });
    Array.prototype.forEach.call(details, function (d) { d.hidden = parseInt(d.getAttribute("data-index"), 10) !== i; });
    if (moveCursor !== false) t = start(i);
    placeCursor();
  }

  function latestStarted() {
    var best = 0;
    rows.forEach(function (row, i) { if (start(i) <= t) best = i; });
    return best;
  }

  function stop() {
    playing = false;
    cancelAnimationFrame(raf);
    playBtn.textContent = "▶ play";
  }
  function play() {
    if (t >= total) t = 0;
    playing = true;
    playBtn.textContent = "❚❚ pause";
    /* Real time for short traces; long ones are compressed to about ten seconds. */
    var rate = total > 10000 ? total / 10000 : 1;
    var wall0 = performance.now();
    var t0 = t;
    function step(now) {
      if (!playing) return;
      t = Math.min(total, t0 + (now - wall0) * rate);
      var i = latestStarted();
      if (i !== selected) select(i, false); else placeCursor();
      if (t >= total) { stop(); return; }
      raf = requestAnimationFrame(step);
    }
    raf = requestAnimationFrame(step);
  }

  root.addEventListener("click", function (ev) {
    var act = ev.target.closest("[data-act]");
    if (act) {
      var a = act.getAttribute("data-act");
      if (a === "prev") { stop(); select(Math.max(0, selected - 1)); }
      else if (a === "next") { stop(); select(Math.min(rows.length - 1, selected + 1)); }
      else if (a === "play") { if (playing) stop(); else play(); }
      return;
    }
    var name = ev.target.closest(".tl-row[data-index] .tl-name");
    if (name) { stop(); select(parseInt(name.parentNode.getAttribute("data-index"), 10)); }
  });

  root.addEventListener("keydown", function (ev) {
    if (ev.target.closest("input, select, textarea, summary")) return;
    if (ev.key === "ArrowRight") { stop(); select(Math.min(rows.length - 1, selected + 1)); ev.preventDefault(); }
    else if (ev.key === "ArrowLeft") { stop(); select(Math.max(0, selected - 1)); ev.preventDefault(); }
    else if (ev.key === " ") { if (playing) stop(); else play(); ev.preventDefault(); }
  });

  /* The terminal's clock (seconds since the agent started) moves the cursor through the launch span. */
  document.addEventListener("cab:cast-time", function (ev) {
    if (launch === null || playing) return;
    t = launch + ev.detail.time * 1000;
    var i = latestStarted();
    if (i !== selected) select(i, false); else placeCursor();
  });

  window.addEventListener("resize", placeCursor);
  select(0);
})();
