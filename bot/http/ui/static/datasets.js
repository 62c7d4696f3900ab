// Datasets: upload with the validation report next to the rows, statistics, versions.
import { ApiError, call, get } from "./api.js";
import { enc, h, notice, number, table, when } from "./dom.js";
import { can } from "./session.js";

const FORMATS = ["", "text", "completion", "chat", "keywords", "csv"];

export async function datasetsPage(view) {
  const list = h("div");
  view.replaceChildren(h("h2", {}, "Datasets"), can("POST", "/v1/datasets") ? uploadForm(() => load()) : null, list);
  const load = async () => {
    const { datasets } = await get("/v1/datasets");
    list.replaceChildren(...versionTables(datasets));
  };
  await load();
}

function uploadForm(reload) {
  const result = h("div", { id: "upload-result" });
  const form = h(
    "form",
    { id: "upload", onsubmit: (event) => upload(event, form, result, reload) },
    h("label", { for: "ds-name" }, "Name"),
    h("input", { id: "ds-name", name: "name", type: "text", required: true, pattern: "[A-Za-z0-9._-]+" }),
    h("label", { for: "ds-file" }, "File (JSONL, CSV or text)"),
    h("input", { id: "ds-file", name: "file", type: "file", required: true }),
    h("label", { for: "ds-format" }, "Format"),
    h("select", { id: "ds-format", name: "format" }, FORMATS.map((f) => h("option", { value: f }, f || "detect"))),
    h("p", {}, h("input", { id: "ds-skip", name: "skip_invalid", type: "checkbox", value: "true" }), h("label", { for: "ds-skip", class: "inline" }, "Skip invalid rows instead of refusing the file")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Upload")),
    result,
  );
  return h("details", { open: true }, h("summary", {}, "Upload a dataset"), form);
}

async function upload(event, form, result, reload) {
  event.preventDefault();
  const data = new FormData(form);
  if (!data.get("format")) data.delete("format");
  const file = data.get("file");
  try {
    const out = await call("POST", "/v1/datasets", { body: data });
    result.replaceChildren(h("p", { class: "ok", role: "status" }, `Stored ${out.dataset.label}.`), await rowErrors(out.report, file), h("pre", {}, out.summary));
    await reload();
  } catch (error) {
    if (error instanceof ApiError && error.details && error.details.errors) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, `Refused: ${error.details.errors.length} invalid row${error.details.errors.length === 1 ? "" : "s"}. Fix them, or tick “Skip invalid rows”.`), await rowErrors(error.details, file));
    } else notice(result, `Upload failed: ${error.message}`, "error");
  }
}

// Each reported error next to the line it is about, read from the file in the browser.
async function rowErrors(report, file) {
  const errors = report.errors || [];
  if (!errors.length) return h("p", {}, "No invalid rows.");
  const lines = (await file.text()).split(/\r?\n/);
  const rows = errors.map((e) =>
    h("tr", { "data-line": e.line }, h("td", { class: "num" }, e.line), h("td", { class: "line" }, (lines[e.line - 1] ?? "").slice(0, 500)), h("td", { class: "error" }, e.message)),
  );
  return h("div", { class: "rows" }, table(["Line", "Row", "Problem"], rows, "Invalid rows"));
}

// One table per dataset name: its versions, newest first, with count differences.
function versionTables(datasets) {
  const byName = new Map();
  for (const d of datasets) byName.set(d.name, [...(byName.get(d.name) || []), d]);
  if (!byName.size) return [h("p", {}, "No datasets yet.")];
  return [...byName].map(([name, versions]) => {
    versions.sort((a, b) => b.version - a.version);
    const rows = versions.map((d, i) => {
      const older = versions[i + 1];
      return h(
        "tr",
        {},
        h("th", { scope: "row" }, h("a", { href: `#/datasets/${enc(d.id)}` }, d.label)),
        h("td", {}, d.format),
        h("td", { class: "num" }, number(d.examples), older ? ` (${signed(d.examples - older.examples)})` : ""),
        h("td", { class: "num" }, number(d.stats.total_tokens), older ? ` (${signed((d.stats.total_tokens || 0) - (older.stats.total_tokens || 0))})` : ""),
        h("td", {}, d.created_by),
        h("td", {}, when(d.created_at)),
      );
    });
    return h("section", {}, h("h3", {}, name), table(["Version", "Format", "Examples (Δ)", "Tokens (Δ)", "By", "Created"], rows));
  });
}

function signed(n) {
  return n > 0 ? `+${number(n)}` : n < 0 ? `−${number(-n)}` : "±0";
}

// One version: the statistics the CLI prints, token lengths drawn, the validation report.
export async function datasetPage(view, id) {
  const d = await get(`/v1/datasets/${enc(id)}`);
  const s = d.stats;
  view.replaceChildren(
    h("h2", {}, `Dataset ${d.label}`),
    h("p", {}, `${number(d.examples)} examples, format ${d.format}, uploaded by ${d.created_by} on ${when(d.created_at)}.`),
    h("h3", {}, "Tokens per example"),
    s.length_histogram ? histogram(s.length_histogram) : spread(s),
    s.block_size ? h("p", { class: "muted" }, `Block size ${s.block_size}; ${number(s.over_block_size)} examples are longer.`) : null,
    h("h3", {}, "Statistics"),
    h("pre", {}, s.text || JSON.stringify(s, null, 2)),
    // replaceChildren takes nodes, not arrays: spread the optional pair.
    ...(d.report && d.report.errors && d.report.errors.length
      ? [h("h3", {}, "Rows skipped at upload"), table(["Line", "Problem"], d.report.errors.map((e) => h("tr", {}, h("td", { class: "num" }, e.line), h("td", {}, e.message))))]
      : []),
  );
}

// Examples per token-length bin: bin i holds edges[i] < tokens <= edges[i + 1] (trainer/data/stats.py).
// Each bar says its range and count in text; the width only repeats it.
function histogram({ edges, counts }) {
  if (!counts.length) return h("p", {}, "No examples.");
  const top = Math.max(1, ...counts);
  const bars = counts.map((count, i) => {
    const [lo, hi] = [edges[i] + 1, edges[i + 1]];
    const range = lo === hi ? `${number(hi)}` : `${number(lo)}–${number(hi)}`;
    const words = `${range} tokens: ${number(count)} example${count === 1 ? "" : "s"}`;
    const fill = h("span", { class: "fill" });
    fill.style.width = `${(100 * count) / top}%`;
    return h("li", { class: "bar", title: words, "data-lo": lo, "data-hi": hi, "data-count": count }, h("span", {}, range), h("span", { class: "track" }, fill), h("span", {}, number(count)));
  });
  return h("figure", { class: "histogram" }, h("figcaption", { class: "muted" }, "Examples by length in tokens"), h("ol", { class: "bars" }, bars));
}

// Versions stored before the histogram: min, percentiles, mean and max as bars.
function spread(s) {
  const marks = [
    ["min", s.min_tokens],
    ["p5", s.p5_tokens],
    ["median", s.median_tokens],
    ["mean", s.mean_tokens],
    ["p95", s.p95_tokens],
    ["max", s.max_tokens],
  ].filter(([, v]) => v !== undefined);
  const top = Math.max(1, ...marks.map(([, v]) => v), s.block_size || 0);
  const bars = marks.map(([label, v]) => {
    const fill = h("span", { class: "fill" });
    fill.style.width = `${(100 * v) / top}%`;
    return h("div", { class: "bar" }, h("span", {}, label), fill, h("span", {}, `${number(v, 1)} tokens`));
  });
  return h("div", { class: "bars", role: "img", "aria-label": marks.map(([l, v]) => `${l} ${v}`).join(", ") }, bars);
}
