// Live line charts on uPlot. Points arrive one event at a time; they are drawn at most
// once per animation frame, so a burst (a replayed history) costs one redraw, not one each.
// Series differ by dash and marker as well as colour, and the legend names each.
const STYLES = [
  { stroke: "#0b57d0", dash: undefined },
  { stroke: "#b3261e", dash: [6, 4] },
  { stroke: "#146c2e", dash: [2, 3] },
  { stroke: "#7d5260", dash: [10, 3, 2, 3] },
  { stroke: "#5f5f00", dash: [1, 5] },
  { stroke: "#006874", dash: [12, 6] },
];

// Every chart on the page by name, and the event-to-draw latencies, for tests and benches.
const registry = (window.trainbot = window.trainbot || { charts: {}, latencies: [] });

export class SeriesChart {
  constructor(container, { name, title, labels, yLabel, xLabel = "step", points = [] }) {
    this.xs = [];
    this.ys = labels.map(() => []);
    this.waiting = []; // receive times of points not drawn yet
    this.sizes = []; // points on each redraw: shows a chart that grew live, not all at once
    this.draws = []; // [wall-clock ms, ms spent redrawing] per redraw, for benches
    this.scheduled = false;
    const series = [
      { label: xLabel },
      ...labels.map((label, i) => ({
        label,
        ...STYLES[i % STYLES.length],
        width: 2,
        spanGaps: true,
        points: { show: Boolean(points[i]), size: 6 },
      })),
    ];
    const options = {
      title,
      width: Math.max(container.clientWidth, 280),
      height: 240,
      series,
      axes: [{ label: xLabel }, { label: yLabel, size: 60, values: (u, ticks) => ticks.map(tick) }],
      scales: { x: { time: false } },
      hooks: { draw: [() => this.drawn()] },
    };
    this.plot = new uPlot(options, [this.xs, ...this.ys], container);
    this.resizer = new ResizeObserver(() => this.plot.setSize({ width: Math.max(container.clientWidth, 280), height: 240 }));
    this.resizer.observe(container);
    registry.charts[name] = this;
  }

  // Add (or replace) series k's value at x; `received` is when its event arrived.
  put(k, x, y, received = performance.now()) {
    const xs = this.xs;
    const last = xs.length - 1;
    if (last < 0 || x > xs[last]) {
      xs.push(x);
      this.ys.forEach((column, i) => column.push(i === k ? y : null));
    } else {
      const at = lowerBound(xs, x);
      if (xs[at] === x) this.ys[k][at] = y;
      else {
        xs.splice(at, 0, x);
        this.ys.forEach((column, i) => column.splice(at, 0, i === k ? y : null));
      }
    }
    this.waiting.push(received);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.began = performance.now();
      this.plot.setData([this.xs, ...this.ys]);
    });
  }

  drawn() {
    const now = performance.now();
    if (this.sizes.length < 10_000) {
      this.sizes.push(this.xs.length);
      this.draws.push([performance.timeOrigin + now, now - (this.began ?? now)]);
    }
    for (const received of this.waiting) registry.latencies.push(now - received);
    this.waiting = [];
    if (registry.latencies.length > 20_000) registry.latencies.splice(0, 10_000);
  }

  // The plotted data as uPlot holds it: [xs, series 1, series 2, ...].
  get data() {
    return this.plot.data;
  }

  destroy() {
    this.resizer.disconnect();
    this.plot.destroy();
    for (const [name, chart] of Object.entries(registry.charts)) if (chart === this) delete registry.charts[name];
  }
}

// Axis numbers people can read: a learning rate of 0.0005 is not "0".
function tick(v) {
  if (v === 0) return "0";
  const size = Math.abs(v);
  if (size < 0.01 || size >= 1e6) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function lowerBound(sorted, x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
