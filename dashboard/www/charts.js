// A small time-series line chart in plain SVG: a fixed window of points per
// series (one per second), redrawn on each push. No dependencies.
'use strict';

(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const H = 160, LEFT = 44, RIGHT = 8, TOP = 8, BOTTOM = 18;

  function el(name, attrs) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
    if (v >= 10 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(v >= 1 ? 1 : 2);
  }

  class LineChart {
    // container: element to draw into; series: number of lines; capacity:
    // points kept (the window, e.g. 300 = 5 minutes at one per second).
    constructor(container, series, capacity) {
      this.series = Array.from({ length: series }, () => []);
      this.capacity = capacity;
      this.svg = el('svg', { viewBox: `0 0 600 ${H}`, preserveAspectRatio: 'none', role: 'img' });
      this.grid = el('g');
      this.paths = this.series.map((_, i) => el('path', { class: 's' + i, 'vector-effect': 'non-scaling-stroke' }));
      this.svg.append(this.grid, ...this.paths);
      container.replaceChildren(this.svg);
    }

    // One value per series (null: a gap, e.g. no latency sample that second).
    push(values) {
      values.forEach((v, i) => {
        const s = this.series[i];
        s.push(v == null || !isFinite(v) ? null : v);
        if (s.length > this.capacity) s.shift();
      });
      this.draw();
    }

    // The latest value of a series (for tests and tiles).
    last(i = 0) {
      const s = this.series[i];
      return s.length ? s[s.length - 1] : null;
    }

    draw() {
      // One viewBox unit per CSS pixel, so text and strokes keep their shape
      // whatever the width (the svg is 10rem = 160px high).
      const W = Math.max(200, Math.round(this.svg.clientWidth || 600));
      this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
      let max = 0;
      for (const s of this.series) for (const v of s) if (v != null && v > max) max = v;
      max = niceMax(max);
      const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
      const x = (i) => LEFT + (plotW * i) / Math.max(1, this.capacity - 1);
      const y = (v) => TOP + plotH - (plotH * v) / max;

      this.grid.replaceChildren();
      for (const f of [0, 0.5, 1]) {
        const yy = y(max * f);
        this.grid.append(el('line', { x1: LEFT, x2: W - RIGHT, y1: yy, y2: yy, class: 'grid-line' }));
        const t = el('text', { x: LEFT - 4, y: yy + 3, 'text-anchor': 'end', class: 'axis' });
        t.textContent = fmt(max * f);
        this.grid.append(t);
      }
      const span = el('text', { x: W - RIGHT, y: H - 4, 'text-anchor': 'end', class: 'axis' });
      span.textContent = `last ${Math.round(this.capacity / 60)} min`;
      this.grid.append(span);

      this.series.forEach((s, si) => {
        // Right-aligned: the newest point sits at the right edge.
        const offset = this.capacity - s.length;
        let d = '', pen = false;
        s.forEach((v, i) => {
          if (v == null) { pen = false; return; }
          // A lone point is a zero-length segment: its round cap shows a dot.
          d += (pen ? 'L' : 'M') + x(offset + i).toFixed(1) + ' ' + y(v).toFixed(1) + (pen ? '' : 'l0 0');
          pen = true;
        });
        this.paths[si].setAttribute('d', d);
      });
    }
  }

  window.LineChart = LineChart;
})();
