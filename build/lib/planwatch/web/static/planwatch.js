/* planwatch dashboard: time-series charts (uPlot) with plan-change markers, and an
   auto-refresh that swaps the page content in place so the scroll position is kept.
   No inline scripts anywhere: the Content-Security-Policy allows only 'self'. */
(function () {
  "use strict";

  var charts = [];
  var COLORS = ["#2563eb", "#059669", "#d97706", "#7c3aed"];

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function shortHash(h) {
    return h ? String(h).slice(0, 8) : "?";
  }

  /* Plan changes: a dashed line on the canvas plus a DOM marker (hover shows old -> new). */
  function markersPlugin(changes) {
    function place(u) {
      var over = u.over;
      over.querySelectorAll(".plan-marker").forEach(function (m) { m.remove(); });
      changes.forEach(function (c) {
        var left = u.valToPos(c.t, "x");
        if (!isFinite(left) || left < 0 || left > over.clientWidth) { return; }
        var m = document.createElement("div");
        m.className = "plan-marker";
        m.title = "plan " + shortHash(c.from) + " \u2192 " + shortHash(c.to) + " at " +
          new Date(c.t * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
        m.dataset.from = c.from;
        m.dataset.to = c.to;
        m.style.left = Math.round(left) + "px";
        over.appendChild(m);
      });
    }
    function draw(u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#dc2626";
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
      changes.forEach(function (c) {
        var x = u.valToPos(c.t, "x", true);
        if (!isFinite(x)) { return; }
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      });
      ctx.restore();
    }
    return { hooks: { draw: [draw, place] } };
  }

  function makeChart(el) {
    var data = readJSON(el.dataset.source);
    if (!data || !window.uPlot) { return; }
    var keys = el.dataset.keys.split(",");
    var labels = (el.dataset.labels || el.dataset.keys).split(",");
    var series = [{}];
    var columns = [data.t];
    keys.forEach(function (k, i) {
      series.push({ label: labels[i], stroke: COLORS[i % COLORS.length], width: 2,
                    points: { show: data.t.length < 60 } });
      columns.push(data[k]);
    });
    var opts = {
      width: Math.max(el.clientWidth, 300),
      height: parseInt(el.dataset.height || "240", 10),
      series: series,
      scales: { x: { time: true } },
      axes: [{}, { label: el.dataset.unit || "" }],
      plugins: [markersPlugin(data.plan_changes || [])],
    };
    var chart = new window.uPlot(opts, columns, el);
    el.dataset.rendered = "1";
    charts.push(chart);
  }

  function drawCharts(root) {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    root.querySelectorAll(".chart[data-source]").forEach(makeChart);
  }

  function busy() {
    var a = document.activeElement;
    return a && a.closest && a.closest("form") && a.tagName !== "BODY";
  }

  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch(window.location.href, { credentials: "same-origin",
                                  headers: { "X-Planwatch-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content");
        var current = document.getElementById("content");
        if (!fresh || !current) { return; }
        var x = window.scrollX, y = window.scrollY;
        current.replaceWith(document.importNode(fresh, true));
        drawCharts(document.getElementById("content"));
        window.scrollTo(x, y);
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }

  function start() {
    drawCharts(document);
    var main = document.getElementById("content");
    var every = main ? parseInt(main.dataset.refresh || "0", 10) : 0;
    if (every > 0) { window.setInterval(refresh, every * 1000); }
    window.addEventListener("resize", function () { drawCharts(document); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
