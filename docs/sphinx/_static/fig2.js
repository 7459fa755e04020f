// The interactive Fig. 2 (docs/fig2_interactive.md): pick a layer of EMF, IMF or DMF and every
// learning path into it lights up, labelled with its share of that layer's gradient. The numbers
// are window.DMF_FIG2_PATHS, written by scripts/fig2_paths.py from a real run of
// dmf_np.learning_paths; this script only draws them. No library and no network: plain DOM + SVG.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560, H = 360, BOX_W = 66, BOX_H = 30;
  const COLOUR_NAME = {modality: "purple", both: "orange", shared: "red"};
  const MEANING = {
    modality: "down its own modality stack from the top (IMF's path)",
    both: "down the shared stack, then across and down the modality stack (DMF's own)",
    shared: "down the shared stack, into it directly (EMF's path)",
  };

  function el(tag, attrs, parent, ns) {
    const e = ns ? document.createElementNS(SVG, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // "x2" -> ["h", "x", "2"], "s3" -> ["s", "", "3"]: a symbol, its superscript and its subscript
  function symbol(id) {
    if (id === "out") return ["softmax", "", ""];
    const name = id.replace(/[0-9]+$/, ""), level = id.slice(name.length);
    return name === "s" ? ["s", "", level] : ["h", name, level];
  }

  function html(id) {  // for the table: h<sup>x</sup><sub>2</sub>
    const [sym, sup, sub] = symbol(id);
    return sym + (sup ? "<sup>" + sup + "</sup>" : "") + (sub ? "<sub>" + sub + "</sub>" : "");
  }

  function weightHtml(key) {  // "W^x_1" -> W<sup>x</sup><sub>1</sub>
    const m = /^W\^(\w+)_(\d+)$/.exec(key || "");
    return m ? "W<sup>" + m[1] + "</sup><sub>" + m[2] + "</sub>" : key;
  }

  function percent(v) {
    return (v < 0 ? "\u2212" : "") + Math.abs(100 * v).toFixed(1) + "%";
  }

  function term(v) {  // null: this network has no such edge
    return v === null ? "none (no such edge)" : percent(v);
  }

  // columns: first modality, shared stack, second modality; level 1 at the bottom, the head on top
  function position(node) {
    const col = node.kind === "modality" ? (node.m === 0 ? 100 : 460) : 280;
    return [col, H - 35 - (node.l - 1) * 95];
  }

  function Figure(root, data) {
    this.root = root;
    this.data = data;
    this.scheme = "dmf";
    this.stage = "trained";
    this.layer = "x1";
    this.build();
    this.render();
  }

  Figure.prototype.build = function () {
    const bar = el("div", {class: "fig2-controls"}, this.root);
    this.buttons = {};
    const group = (label, key, options) => {
      const g = el("div", {class: "fig2-group", role: "group", "aria-label": label}, bar);
      el("span", {class: "fig2-group-label"}, g).textContent = label + ":";
      for (const [value, text] of options) {
        const b = el("button", {type: "button", ["data-" + key]: value}, g);
        b.textContent = text;
        b.addEventListener("click", () => { this[key] = value; this.render(); });
        this.buttons[key + ":" + value] = b;
      }
    };
    group("network", "scheme", [["emf", "EMF"], ["imf", "IMF"], ["dmf", "DMF"]]);
    const epochs = this.data.config.epochs;
    group("weights", "stage", [["init", "at initialisation"], ["trained", "after " + epochs + " epochs"]]);
    this.svg = el("svg", {viewBox: "0 0 " + W + " " + H, class: "fig2-svg", role: "img",
                          "aria-label": "the fusion graph; click a layer"}, this.root, true);
    const defs = el("defs", {}, this.svg, true);
    for (const cls of ["modality", "both", "shared"]) {
      const m = el("marker", {id: "fig2-arrow-" + cls, viewBox: "0 0 10 10", refX: "9", refY: "5",
                              markerWidth: "5", markerHeight: "5", orient: "auto-start-reverse"}, defs, true);
      el("path", {d: "M0,0 L10,5 L0,10 z", class: "fig2-fill-" + cls}, m, true);
    }
    this.summary = el("p", {class: "fig2-summary", "aria-live": "polite"}, this.root);
    this.table = el("table", {class: "fig2-table"}, this.root);
  };

  Figure.prototype.render = function () {
    const s = this.data.schemes[this.scheme], stage = s.stages[this.stage];
    if (!stage.layers[this.layer]) this.layer = s.names[0] + "1";  // every scheme has the inputs
    for (const [k, b] of Object.entries(this.buttons)) {
      const [key, value] = k.split(":");
      b.setAttribute("aria-pressed", String(this[key] === value));
    }
    while (this.svg.childNodes.length > 1) this.svg.removeChild(this.svg.lastChild);
    const pos = {};
    for (const n of s.nodes) pos[n.id] = position(n);
    for (const [a, b] of s.edges) {  // the forward graph, faint
      el("line", {x1: pos[a][0], y1: pos[a][1], x2: pos[b][0], y2: pos[b][1], class: "fig2-edge"}, this.svg, true);
    }
    const layer = stage.layers[this.layer], paths = layer.paths, lit = el("g", {class: "fig2-lit"}, this.svg, true);
    paths.forEach((p, i) => {
      // parallel routes: shift each by (d, d); every edge is horizontal or vertical, so the copies stay apart
      const d = (i - (paths.length - 1) / 2) * 7;
      const pts = p.nodes.map(id => [pos[id][0] + d, pos[id][1] + d]);
      // stop at the layer's box, not its centre, so that the arrowhead shows
      const end = pts[pts.length - 1], prev = pts[pts.length - 2];
      if (prev[0] === end[0]) end[1] += Math.sign(prev[1] - end[1]) * (BOX_H / 2 + 1);
      else end[0] += Math.sign(prev[0] - end[0]) * (BOX_W / 2 + 1);
      el("polyline", {points: pts.map(q => q.join(",")).join(" "), class: "fig2-path fig2-stroke-" + p.colour,
                      "marker-end": "url(#fig2-arrow-" + p.colour + ")", "data-route": p.nodes.join(">"),
                      "data-share": String(p.share)}, lit, true);
      // the label sits where the route enters the layer's modality stack (one route per entry level),
      // or on its last edge for a shared layer
      const at = p.entry ? p.nodes.indexOf(this.layer.replace(/[0-9]+$/, "") + p.entry) : p.nodes.length - 1;
      const a = pts[at - 1], b = pts[at];
      const t = el("text", {x: (a[0] + b[0]) / 2 + (a[0] === b[0] ? 8 : 0), y: (a[1] + b[1]) / 2 - (a[1] === b[1] ? 6 : 0),
                            class: "fig2-label fig2-fill-" + p.colour, "data-route": p.nodes.join(">"), "text-anchor": a[0] === b[0] ? "start" : "middle"},
                   lit, true);
      t.textContent = percent(p.share);
    });
    for (const n of s.nodes) this.drawNode(n, pos[n.id], stage.layers[n.id] !== undefined);
    this.describe(s, stage, layer);
  };

  Figure.prototype.drawNode = function (n, [x, y], selectable) {
    const g = el("g", {class: "fig2-node" + (n.id === this.layer ? " fig2-selected" : "") + (selectable ? "" : " fig2-head"),
                       "data-layer": n.id, transform: "translate(" + x + "," + y + ")"}, this.svg, true);
    const w = n.id === "out" ? 88 : BOX_W;
    el("rect", {x: -w / 2, y: -BOX_H / 2, width: w, height: BOX_H, rx: 6}, g, true);
    const [sym, sup, sub] = symbol(n.id), t = el("text", {"text-anchor": "middle", y: 5}, g, true);
    t.appendChild(document.createTextNode(sym));
    if (sup) el("tspan", {dy: -7, class: "fig2-script"}, t, true).textContent = sup;
    if (sub) el("tspan", {dy: sup ? 11 : 5, class: "fig2-script"}, t, true).textContent = sub;
    if (!selectable) return;
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", sym + (sup ? " " + sup : "") + " " + sub);
    g.addEventListener("click", () => { this.layer = n.id; this.render(); });
    g.addEventListener("keydown", e => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.layer = n.id; this.render(); }
    });
  };

  Figure.prototype.describe = function (s, stage, layer) {
    const n = layer.paths.length;
    this.summary.innerHTML = "<b>" + this.scheme.toUpperCase() + ", " + html(this.layer) + "</b>: " + n +
      " learning path" + (n === 1 ? "" : "s") + " into this layer (" +
      (this.stage === "init" ? "at initialisation" : "after " + stage.epochs + " epochs") +
      "; training loss " + stage.loss.toFixed(3) + ", training error " + stage.train_error.toFixed(1) + "%)." +
      (layer.eq5 ? " Eq. 5's two terms: " + term(layer.eq5.modality) + " through the modality layer above, " +
                   term(layer.eq5.shared) + " through the shared layer beside it." : "");
    const rows = ["<tr><th>path</th><th>route (error flows left to right)</th><th>share of d\u03b5/d" + html(this.layer) +
                  "</th><th>norm ratio</th>" + (layer.weight ? "<th>share of d\u03b5/d" + weightHtml(layer.weight) + "</th>" : "") + "</tr>"];
    for (const p of layer.paths) {
      rows.push("<tr data-route='" + p.nodes.join(">") + "'><td><span class='fig2-swatch fig2-bg-" + p.colour + "'></span>" +
                COLOUR_NAME[p.colour] + "</td><td>" + p.nodes.map(html).join(" \u2192 ") +
                "<br><small>" + (p.entry === null ? "down the shared stack (Eq. 6)" : MEANING[p.colour]) + "</small></td><td>" + percent(p.share) + "</td><td>" +
                p.norm_ratio.toFixed(3) + "</td>" + (layer.weight ? "<td>" + percent(p.weight_share) + "</td>" : "") + "</tr>");
    }
    this.table.innerHTML = rows.join("");
  };

  function start() {
    const root = document.getElementById("fig2-interactive");
    if (!root) return;
    if (!window.DMF_FIG2_PATHS) {
      root.textContent = "The data of this figure (_static/fig2_paths.js) did not load.";
      return;
    }
    root.textContent = "";
    root.figure = new Figure(root, window.DMF_FIG2_PATHS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
