/* cab report: an asciicast v2 player with a small VT100/xterm screen emulator. No dependencies.
 *
 * The recording arrives as JSON in <script type="application/json" id="cast-data">: {width, height,
 * duration, events: [[t, "o"|"r"|"m", data]], markers}.  Output is drawn into .term as one div per
 * row, only rows that changed are redrawn, and text is inserted as text (escaped), never as markup.
 * Pauses longer than IDLE seconds are shortened, as asciinema does.
 */
(function () {
  "use strict";
  var IDLE = 2.0;

  /* ------------------------------------------------------------------ the screen */
  var attrCache = {};
  function attr(fg, bg, flags) {
    var key = fg + "|" + bg + "|" + flags;
    var a = attrCache[key];
    if (!a) { a = attrCache[key] = { fg: fg, bg: bg, flags: flags, key: key }; }
    return a;
  }
  var DEFAULT = attr(null, null, 0);
  var BOLD = 1, FAINT = 2, ITALIC = 4, UNDER = 8, INVERSE = 16, STRIKE = 32, HIDDEN = 64;

  function Screen(cols, rows) {
    this.cols = cols; this.rows = rows;
    this.reset();
  }
  Screen.prototype.blankLine = function (a) {
    var line = new Array(this.cols);
    var cell = [" ", a || DEFAULT];
    for (var i = 0; i < this.cols; i++) line[i] = cell;
    line.dirty = true;
    return line;
  };
  Screen.prototype.reset = function () {
    this.main = []; this.alt = null;
    for (var r = 0; r < this.rows; r++) this.main.push(this.blankLine());
    this.lines = this.main;
    this.x = 0; this.y = 0; this.a = DEFAULT; this.wrapPending = false; this.autowrap = true;
    this.top = 0; this.bottom = this.rows - 1; this.saved = null; this.cursorVisible = true;
    this.state = 0; this.params = ""; this.inter = ""; this.oscBuf = "";
    this.allDirty = true; this.maxY = 0; this.usedAlt = false;
  };
  Screen.prototype.resize = function (cols, rows) {
    var old = this.lines;
    this.cols = cols; this.rows = rows;
    var fresh = [];
    for (var r = 0; r < rows; r++) {
      var line = this.blankLine();
      var src = old[r + Math.max(0, old.length - rows)];
      if (src) for (var c = 0; c < Math.min(cols, src.length); c++) line[c] = src[c];
      fresh.push(line);
    }
    this.main = this.lines = fresh; this.alt = null;
    this.top = 0; this.bottom = rows - 1;
    this.x = Math.min(this.x, cols - 1); this.y = Math.min(this.y, rows - 1);
    this.allDirty = true;
  };
  Screen.prototype.mark = function (y) { if (this.lines[y]) this.lines[y].dirty = true; };
  Screen.prototype.scrollUp = function (n, top, bottom) {
    top = top === undefined ? this.top : top; bottom = bottom === undefined ? this.bottom : bottom;
    for (var i = 0; i < n; i++) { this.lines.splice(top, 1); this.lines.splice(bottom, 0, this.blankLine(this.bgAttr())); }
    for (var y = top; y <= bottom; y++) this.mark(y);
  };
  Screen.prototype.scrollDown = function (n, top, bottom) {
    top = top === undefined ? this.top : top; bottom = bottom === undefined ? this.bottom : bottom;
    for (var i = 0; i < n; i++) { this.lines.splice(bottom, 1); this.lines.splice(top, 0, this.blankLine(this.bgAttr())); }
    for (var y = top; y <= bottom; y++) this.mark(y);
  };
  Screen.prototype.bgAttr = function () { return this.a.bg === null ? DEFAULT : attr(null, this.a.bg, 0); };
  Screen.prototype.lineFeed = function () {
    if (this.y === this.bottom) this.scrollUp(1);
    else if (this.y < this.rows - 1) { this.mark(this.y); this.y++; }
    this.mark(this.y);
  };
  Screen.prototype.put = function (ch) {
    if (this.wrapPending) {
      if (this.autowrap) { this.mark(this.y); this.x = 0; this.lineFeed(); }
      this.wrapPending = false;
    }
    var line = this.lines[this.y];
    if (this.y > this.maxY) this.maxY = this.y;
    line[this.x] = [ch, this.a];
    line.dirty = true;
    if (this.x >= this.cols - 1) this.wrapPending = true; else this.x++;
  };
  Screen.prototype.moveTo = function (x, y) {
    this.mark(this.y);
    this.x = Math.max(0, Math.min(this.cols - 1, x));
    this.y = Math.max(0, Math.min(this.rows - 1, y));
    this.wrapPending = false;
    this.mark(this.y);
  };
  Screen.prototype.eraseLine = function (y, from, to) {
    var line = this.lines[y], cell = [" ", this.bgAttr()];
    for (var x = Math.max(0, from); x < Math.min(this.cols, to); x++) line[x] = cell;
    line.dirty = true;
  };
  Screen.prototype.write = function (data) {
    for (var i = 0; i < data.length; i++) {
      var ch = data[i], code = data.charCodeAt(i);
      switch (this.state) {
        case 0: /* ground */
          if (code >= 32 && code !== 127) {
            if (code >= 0xd800 && code <= 0xdbff && i + 1 < data.length) { ch += data[++i]; }
            this.put(ch);
          } else if (code === 27) { this.state = 1; }
          else if (code === 10 || code === 11 || code === 12) { this.lineFeed(); this.wrapPending = false; }
          else if (code === 13) { this.x = 0; this.wrapPending = false; }
          else if (code === 8) { if (this.x > 0) this.x--; this.wrapPending = false; this.mark(this.y); }
          else if (code === 9) { this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8); this.mark(this.y); }
          break;
        case 1: /* after ESC */
          this.state = 0;
          if (ch === "[") { this.state = 2; this.params = ""; this.inter = ""; }
          else if (ch === "]") { this.state = 3; this.oscBuf = ""; }
          else if (ch === "P" || ch === "X" || ch === "^" || ch === "_") { this.state = 4; }
          else if (ch === "(" || ch === ")" || ch === "*" || ch === "+" || ch === "#" || ch === "%") { this.state = 5; }
          else if (ch === "7") { this.saved = { x: this.x, y: this.y, a: this.a }; }
          else if (ch === "8") { if (this.saved) { this.moveTo(this.saved.x, this.saved.y); this.a = this.saved.a; } }
          else if (ch === "D") { this.lineFeed(); }
          else if (ch === "E") { this.x = 0; this.lineFeed(); }
          else if (ch === "M") { if (this.y === this.top) this.scrollDown(1); else if (this.y > 0) { this.mark(this.y); this.y--; this.mark(this.y); } }
          else if (ch === "c") { this.reset(); }
          break;
        case 2: /* CSI */
          if (code >= 0x30 && code <= 0x3f) this.params += ch;
          else if (code >= 0x20 && code <= 0x2f) this.inter += ch;
          else if (code >= 0x40 && code <= 0x7e) { this.state = 0; this.csi(ch); }
          else if (code === 27) { this.state = 1; }
          else if (code < 32) { /* C0 inside CSI: execute, keep parsing */ if (code === 13) this.x = 0; else if (code === 10) this.lineFeed(); }
          else this.state = 0;
          break;
        case 3: /* OSC: until BEL or ST */
          if (code === 7) this.state = 0;
          else if (code === 27) this.state = 6;
          else if (this.oscBuf.length < 4096) this.oscBuf += ch;
          break;
        case 4: /* DCS/SOS/PM/APC: until ST */
          if (code === 27) this.state = 6; else if (code === 7) this.state = 0;
          break;
        case 5: /* charset designation: one more byte */
          this.state = 0;
          break;
        case 6: /* ESC inside a string: "\" ends it */
          this.state = ch === "\\" ? 0 : 1;
          if (this.state === 1) i--;
          break;
      }
    }
  };
  Screen.prototype.csi = function (final) {
    var priv = this.params.charAt(0) === "?" || this.params.charAt(0) === ">" || this.params.charAt(0) === "=";
    var raw = priv ? this.params.slice(1) : this.params;
    var p = raw === "" ? [] : raw.split(/[;:]/).map(function (v) { return v === "" ? 0 : parseInt(v, 10) || 0; });
    var n = p[0] || 1, y, x, i;
    if (this.inter) { return; }
    switch (final) {
      case "A": this.moveTo(this.x, Math.max(this.y - n, this.y >= this.top ? this.top : 0)); break;
      case "B": this.moveTo(this.x, Math.min(this.y + n, this.y <= this.bottom ? this.bottom : this.rows - 1)); break;
      case "C": case "a": this.moveTo(this.x + n, this.y); break;
      case "D": this.moveTo(this.x - n, this.y); break;
      case "E": this.moveTo(0, this.y + n); break;
      case "F": this.moveTo(0, this.y - n); break;
      case "G": case "`": this.moveTo(n - 1, this.y); break;
      case "d": this.moveTo(this.x, n - 1); break;
      case "e": this.moveTo(this.x, this.y + n); break;
      case "H": case "f": this.moveTo((p[1] || 1) - 1, (p[0] || 1) - 1); break;
      case "J":
        y = this.y;
        if (!p[0]) { this.eraseLine(y, this.x, this.cols); for (i = y + 1; i < this.rows; i++) this.eraseLine(i, 0, this.cols); }
        else if (p[0] === 1) { this.eraseLine(y, 0, this.x + 1); for (i = 0; i < y; i++) this.eraseLine(i, 0, this.cols); }
        else if (p[0] === 2 || p[0] === 3) { for (i = 0; i < this.rows; i++) this.eraseLine(i, 0, this.cols); }
        break;
      case "K":
        if (!p[0]) this.eraseLine(this.y, this.x, this.cols);
        else if (p[0] === 1) this.eraseLine(this.y, 0, this.x + 1);
        else this.eraseLine(this.y, 0, this.cols);
        break;
      case "X": this.eraseLine(this.y, this.x, this.x + n); break;
      case "P": {
        var line = this.lines[this.y];
        line.splice(this.x, Math.min(n, this.cols - this.x));
        while (line.length < this.cols) line.push([" ", this.bgAttr()]);
        line.dirty = true; break;
      }
      case "@": {
        var l2 = this.lines[this.y];
        for (i = 0; i < n; i++) l2.splice(this.x, 0, [" ", this.bgAttr()]);
        l2.length = this.cols; l2.dirty = true; break;
      }
      case "L": if (this.y >= this.top && this.y <= this.bottom) this.scrollDown(n, this.y, this.bottom); break;
      case "M": if (this.y >= this.top && this.y <= this.bottom) this.scrollUp(n, this.y, this.bottom); break;
      case "S": this.scrollUp(n); break;
      case "T": if (!priv) this.scrollDown(n); break;
      case "r":
        if (!priv) {
          this.top = Math.max(0, (p[0] || 1) - 1);
          this.bottom = Math.min(this.rows - 1, (p[1] || this.rows) - 1);
          if (this.bottom <= this.top) { this.top = 0; this.bottom = this.rows - 1; }
          this.moveTo(0, 0);
        }
        break;
      case "s": this.saved = { x: this.x, y: this.y, a: this.a }; break;
      case "u": if (this.saved) { this.moveTo(this.saved.x, this.saved.y); this.a = this.saved.a; } break;
      case "m": this.sgr(p); break;
      case "h": case "l":
        if (priv) {
          var on = final === "h";
          for (i = 0; i < p.length; i++) {
            if (p[i] === 25) { this.cursorVisible = on; this.mark(this.y); }
            else if (p[i] === 7) this.autowrap = on;
            else if (p[i] === 1049 || p[i] === 47 || p[i] === 1047) this.altScreen(on, p[i] === 1049);
          }
        }
        break;
    }
  };
  Screen.prototype.altScreen = function (on, saveCursor) {
    if (on && !this.alt) {
      if (saveCursor) this.saved = { x: this.x, y: this.y, a: this.a };
      this.alt = []; for (var r = 0; r < this.rows; r++) this.alt.push(this.blankLine());
      this.usedAlt = true;
      this.lines = this.alt;
    } else if (!on && this.alt) {
      this.alt = null; this.lines = this.main;
      if (saveCursor && this.saved) this.moveTo(this.saved.x, this.saved.y);
    }
    this.allDirty = true;
  };
  Screen.prototype.sgr = function (p) {
    var fg = this.a.fg, bg = this.a.bg, flags = this.a.flags;
    if (!p.length) p = [0];
    for (var i = 0; i < p.length; i++) {
      var v = p[i];
      if (v === 0) { fg = null; bg = null; flags = 0; }
      else if (v === 1) flags |= BOLD; else if (v === 2) flags |= FAINT; else if (v === 3) flags |= ITALIC;
      else if (v === 4) flags |= UNDER; else if (v === 7) flags |= INVERSE; else if (v === 8) flags |= HIDDEN;
      else if (v === 9) flags |= STRIKE;
      else if (v === 22) flags &= ~(BOLD | FAINT); else if (v === 23) flags &= ~ITALIC; else if (v === 24) flags &= ~UNDER;
      else if (v === 27) flags &= ~INVERSE; else if (v === 28) flags &= ~HIDDEN; else if (v === 29) flags &= ~STRIKE;
      else if (v >= 30 && v <= 37) fg = v - 30; else if (v === 39) fg = null;
      else if (v >= 40 && v <= 47) bg = v - 40; else if (v === 49) bg = null;
      else if (v >= 90 && v <= 97) fg = v - 90 + 8; else if (v >= 100 && v <= 107) bg = v - 100 + 8;
      else if (v === 38 || v === 48) {
        var color = null;
        if (p[i + 1] === 5) { color = p[i + 2]; i += 2; }
        else if (p[i + 1] === 2) { color = "#" + [p[i + 2], p[i + 3], p[i + 4]].map(function (c) { return ("0" + ((c || 0) & 255).toString(16)).slice(-2); }).join(""); i += 4; }
        if (v === 38) fg = color; else bg = color;
      }
    }
    this.a = attr(fg, bg, flags);
  };

  /* ------------------------------------------------------------------ drawing */
  function color256(n) {
    if (n < 16) return null;
    if (n >= 232) { var g = 8 + (n - 232) * 10; return "rgb(" + g + "," + g + "," + g + ")"; }
    n -= 16;
    var steps = [0, 95, 135, 175, 215, 255];
    return "rgb(" + steps[Math.floor(n / 36)] + "," + steps[Math.floor(n / 6) % 6] + "," + steps[n % 6] + ")";
  }
  function colorOf(c, prefix, parts, styles) {
    if (c === null || c === undefined) return;
    if (typeof c === "number" && c < 16) parts.push(prefix + c);
    else if (typeof c === "number") styles.push((prefix === "f" ? "color:" : "background:") + color256(c));
    else if (/^#[0-9a-f]{6}$/.test(c)) styles.push((prefix === "f" ? "color:" : "background:") + c);
  }
  var styleCache = {};
  function styleOf(a) {
    var s = styleCache[a.key];
    if (s) return s;
    var fg = a.fg, bg = a.bg, parts = [], styles = [];
    if (a.flags & INVERSE) { fg = a.bg === null ? 0 : a.bg; bg = a.fg === null ? 7 : a.fg; }
    if ((a.flags & BOLD) && typeof fg === "number" && fg < 8) fg += 8;
    colorOf(fg, "f", parts, styles); colorOf(bg, "b", parts, styles);
    if (a.flags & BOLD) parts.push("a-b"); if (a.flags & FAINT) parts.push("a-d"); if (a.flags & ITALIC) parts.push("a-i");
    if ((a.flags & UNDER) && (a.flags & STRIKE)) parts.push("a-us"); else if (a.flags & UNDER) parts.push("a-u"); else if (a.flags & STRIKE) parts.push("a-s");
    if (a.flags & HIDDEN) styles.push("visibility:hidden");
    s = styleCache[a.key] = { cls: parts.join(" "), style: styles.join(";") };
    return s;
  }
  function span(text, a, extraClass) {
    var el;
    var st = a === DEFAULT ? null : styleOf(a);
    if (!st && !extraClass) return document.createTextNode(text);
    el = document.createElement("span");
    if (st && st.cls) el.className = st.cls;
    if (extraClass) el.className = (el.className ? el.className + " " : "") + extraClass;
    if (st && st.style) el.setAttribute("style", st.style);
    el.textContent = text;
    return el;
  }
  function drawLine(div, line, cursorX) {
    div.textContent = "";
    var run = "", runAttr = null;
    for (var x = 0; x < line.length; x++) {
      var cell = line[x];
      if (x === cursorX) {
        if (run) div.appendChild(span(run, runAttr)); run = ""; runAttr = null;
        div.appendChild(span(cell[0], cell[1], "cur"));
        continue;
      }
      if (cell[1] !== runAttr && run) { div.appendChild(span(run, runAttr)); run = ""; }
      runAttr = cell[1]; run += cell[0];
    }
    if (run && runAttr === DEFAULT) run = run.replace(/ +$/, "");
    if (run) div.appendChild(span(run, runAttr));
  }

  /* ------------------------------------------------------------------ the player */
  function Player(root, cast) {
    var self = this;
    this.root = root; this.cast = cast;
    this.term = root.querySelector(".term");
    this.bigPlay = root.querySelector(".big-play");
    this.playBtn = root.querySelector(".pc-play");
    this.seek = root.querySelector(".pc-seek");
    this.timeEl = root.querySelector(".pc-time");
    this.speedEl = root.querySelector(".pc-speed");
    this.speed = 1;
    /* timeline with long pauses shortened; real times kept for the trace */
    var adj = 0, prev = 0, limit = cast.idle_time_limit || IDLE;
    this.events = cast.events.map(function (e) {
      var gap = Math.max(0, e[0] - prev); prev = e[0];
      adj += Math.min(gap, limit);
      return { t: adj, real: e[0], code: e[1], data: e[2] };
    });
    this.duration = this.events.length ? this.events[this.events.length - 1].t : 0;
    this.seek.max = String(this.duration);
    this.screen = new Screen(cast.width, cast.height);
    this.rows = [];
    this.buildRows();
    this.pos = 0; this.time = 0; this.playing = false;
    this.fit();
    /* poster: the last frame, dimmed, until play is pressed */
    this.applyUntil(Infinity);
    /* a recording that never filled the screen is shown only as tall as it got (at least 6 rows) */
    this.visibleRows = this.screen.usedAlt ? Infinity : Math.max(this.screen.maxY + 2, 6);
    this.buildRows();
    this.draw(true);
    this.term.classList.add("poster");
    this.screen.reset(); this.pos = 0; this.time = 0; this.screen.resize(cast.width, cast.height);
    this.posterShown = true;
    this.updateClock(false);
    this.markers();

    this.bigPlay.addEventListener("click", function () { self.toggle(); root.focus({ preventScroll: true }); });
    this.playBtn.addEventListener("click", function () { self.toggle(); });
    this.seek.addEventListener("input", function () { self.seekTo(parseFloat(self.seek.value)); });
    this.speedEl.addEventListener("change", function () { self.setSpeed(parseFloat(self.speedEl.value)); });
    root.addEventListener("keydown", function (ev) {
      if (ev.target.closest("select, input")) return;
      if (ev.key === " " || ev.key === "k") { self.toggle(); ev.preventDefault(); }
      else if (ev.key === "ArrowRight") { self.seekTo(self.time + 5); ev.preventDefault(); }
      else if (ev.key === "ArrowLeft") { self.seekTo(self.time - 5); ev.preventDefault(); }
      else if (ev.key === ".") { self.pause(); self.stepEvent(); ev.preventDefault(); }
    });
    window.addEventListener("resize", function () { self.fit(); });
  }
  Player.prototype.buildRows = function () {
    this.term.textContent = "";
    this.rows = [];
    var shown = Math.min(this.screen.rows, this.visibleRows || Infinity);
    for (var r = 0; r < shown; r++) {
      var div = document.createElement("div");
      div.className = "ln";
      this.term.appendChild(div);
      this.rows.push(div);
    }
  };
  Player.prototype.fit = function () {
    var wrap = this.term.parentNode;
    var avail = wrap.clientWidth - 32;
    var size = Math.max(8, Math.min(13, avail / (this.screen.cols * 0.6)));
    this.term.style.fontSize = size.toFixed(2) + "px";
  };
  Player.prototype.markers = function () {
    var box = this.root.querySelector(".pc-markers"), self = this;
    if (!box || !this.duration) return;
    this.events.forEach(function (e) {
      if (e.code !== "m") return;
      var b = document.createElement("button");
      b.type = "button"; b.title = e.data || "marker"; b.style.left = (100 * e.t / self.duration) + "%";
      b.addEventListener("click", function () { self.seekTo(e.t); });
      box.appendChild(b);
    });
  };
  Player.prototype.apply = function (e) {
    if (e.code === "o") this.screen.write(e.data);
    else if (e.code === "r") {
      var m = /^(\d+)x(\d+)$/.exec(e.data || "");
      if (m) { this.screen.resize(parseInt(m[1], 10), parseInt(m[2], 10)); this.buildRows(); this.fit(); }
    }
  };
  Player.prototype.applyUntil = function (t) {
    while (this.pos < this.events.length && this.events[this.pos].t <= t) { this.apply(this.events[this.pos]); this.pos++; }
  };
  Player.prototype.draw = function (all) {
    var s = this.screen;
    if (this.rows.length !== Math.min(s.rows, this.visibleRows || Infinity)) this.buildRows();
    for (var y = 0; y < this.rows.length; y++) {
      var line = s.lines[y];
      if (all || s.allDirty || line.dirty) {
        drawLine(this.rows[y], line, (this.playing || this.time > 0) && s.cursorVisible && y === s.y ? s.x : -1);
        line.dirty = false;
      }
    }
    s.allDirty = false;
  };
  Player.prototype.clearPoster = function () {
    if (!this.posterShown) return;
    this.posterShown = false;
    this.term.classList.remove("poster");
    this.draw(true);
  };
  Player.prototype.updateClock = function (notify) {
    function f(s) { var m = Math.floor(s / 60); var r = s - m * 60; return m + ":" + (r < 10 ? "0" : "") + r.toFixed(1); }
    this.timeEl.textContent = f(this.time) + " / " + f(this.duration);
    this.timeEl.setAttribute("data-time", this.time.toFixed(3));
    this.seek.value = String(this.time);
    var real = this.pos > 0 ? this.events[this.pos - 1].real : 0;
    this.root.setAttribute("data-pos", String(this.pos));
    if (notify !== false) document.dispatchEvent(new CustomEvent("cab:cast-time", { detail: { time: real } }));
  };
  Player.prototype.toggle = function () { if (this.playing) this.pause(); else this.play(); };
  Player.prototype.play = function () {
    var self = this;
    if (this.time >= this.duration) this.seekTo(0);
    this.clearPoster();
    this.playing = true;
    this.bigPlay.hidden = true;
    this.playBtn.textContent = "❚❚"; this.playBtn.setAttribute("aria-label", "pause");
    this.root.setAttribute("data-state", "playing");
    var wall0 = performance.now(), t0 = this.time;
    function frame(now) {
      if (!self.playing) return;
      self.time = Math.min(self.duration, t0 + (now - wall0) / 1000 * self.speed);
      self.applyUntil(self.time);
      self.draw(false);
      self.updateClock();
      if (self.time >= self.duration) { self.pause(true); return; }
      self.raf = requestAnimationFrame(frame);
    }
    this.raf = requestAnimationFrame(frame);
  };
  Player.prototype.pause = function (ended) {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.playBtn.textContent = "▶"; this.playBtn.setAttribute("aria-label", "play");
    this.root.setAttribute("data-state", ended ? "ended" : "paused");
    this.draw(true);
  };
  Player.prototype.setSpeed = function (v) {
    var was = this.playing;
    if (was) this.pause();
    this.speed = v > 0 ? v : 1;
    if (was) this.play();
  };
  Player.prototype.seekTo = function (t) {
    var was = this.playing;
    if (was) this.pause();
    t = Math.max(0, Math.min(this.duration, t || 0));
    this.clearPoster();
    if (t < this.time || this.pos === 0) { this.screen.reset(); this.screen.resize(this.cast.width, this.cast.height); this.buildRows(); this.fit(); this.pos = 0; }
    this.time = t;
    this.applyUntil(t);
    this.draw(true);
    this.updateClock();
    if (was && t < this.duration) this.play();
  };
  Player.prototype.stepEvent = function () {
    this.clearPoster();
    if (this.pos < this.events.length) { var e = this.events[this.pos]; this.apply(e); this.pos++; this.time = e.t; this.draw(false); this.updateClock(); }
  };

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".player[data-cast]"), function (root) {
      var holder = document.getElementById(root.getAttribute("data-cast"));
      if (!holder) return;
      var cast;
      try { cast = JSON.parse(holder.textContent); } catch (e) { return; }
      if (!cast || !cast.events) return;
      root.player = new Player(root, cast);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  window.CabScreen = Screen; /* for tests and the curious */
})();
