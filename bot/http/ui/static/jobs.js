// Jobs: the live list (with a form to start one), a job's page, and runs overlaid.
import { ApiError, followJob, get, post } from "./api.js";
import { SeriesChart } from "./chart.js";
import { duration, enc, h, notice, number, status, table, when } from "./dom.js";
import { can, controls, onLeave } from "./session.js";

const REFRESH_MS = 2000;
const ACTIVE = new Set(["queued", "validating_files", "running", "paused"]);

export async function jobsPage(view) {
  const rows = h("tbody");
  const message = h("div");
  const compare = h("button", { type: "button", onclick: () => openCompare(rows) }, "Overlay selected runs");
  view.replaceChildren(
    h("h2", {}, "Jobs"),
    can("POST", "/v1/jobs") ? await newJobForm() : null,
    message,
    h("div", { class: "actions" }, compare),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { "aria-label": "Jobs, updated live" },
        h(
          "thead",
          {},
          h("tr", {}, ["Compare", "Job", "Status", "Progress", "Loss", "ETA", "Requested by", "From"].map((t) => h("th", { scope: "col" }, t))),
        ),
        rows,
      ),
    ),
  );
  const refresh = async () => {
    try {
      const [list, overview] = await Promise.all([get("/v1/jobs?limit=50"), get("/v1/status")]);
      const progress = Object.fromEntries(overview.running.map((r) => [r.id, r.progress]));
      const checked = new Set([...rows.querySelectorAll("input:checked")].map((box) => box.value));
      rows.replaceChildren(...list.jobs.map((job) => jobRow(job, progress[job.id], checked)));
      message.replaceChildren();
    } catch (error) {
      notice(message, `Could not load the jobs: ${error.message}`, "error");
    }
  };
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  onLeave(() => clearInterval(timer));
}

function jobRow(job, progress, checked) {
  const p = progress || {};
  const loss = p.loss ?? job.result?.metrics?.train_loss;
  const bar = p.total_steps
    ? h("span", {}, h("progress", { max: p.total_steps, value: p.step, "aria-label": `step ${p.step} of ${p.total_steps}` }), ` ${p.step}/${p.total_steps}`)
    : job.status === "succeeded" ? "done" : "—";
  return h(
    "tr",
    { "data-job": job.id },
    h("td", {}, h("input", { type: "checkbox", value: job.id, checked: checked.has(job.id), "aria-label": `compare ${job.name} ${job.id}` })),
    h("td", {}, h("a", { href: `#/jobs/${enc(job.id)}` }, `${job.name} (${job.id})`)),
    h("td", {}, status(job.status)),
    h("td", {}, bar),
    h("td", { class: "num" }, number(loss)),
    h("td", { class: "num" }, ACTIVE.has(job.status) && p.eta_s !== undefined ? duration(p.eta_s) : "—"),
    h("td", {}, job.requested_by),
    h("td", {}, job.room_id || "API"),
  );
}

function openCompare(rows) {
  const ids = [...rows.querySelectorAll("input:checked")].map((box) => box.value);
  if (ids.length) location.hash = `#/compare/${ids.map(enc).join(",")}`;
}

const KNOBS = [
  ["max_steps", "Max steps", "1"],
  ["epochs", "Epochs", "any"],
  ["learning_rate", "Learning rate", "any"],
  ["batch_size", "Batch size", "1"],
  ["block_size", "Block size", "1"],
  ["eval_every", "Evaluate every (steps)", "1"],
  ["save_every", "Save every (steps)", "1"],
];

async function newJobForm() {
  const { datasets } = await get("/v1/datasets");
  const names = [...new Set(datasets.map((d) => d.name))];
  const result = h("div");
  const form = h(
    "form",
    { id: "new-job", onsubmit: (event) => submitJob(event, form, result) },
    h("label", { for: "job-dataset" }, "Dataset"),
    h("select", { id: "job-dataset", name: "dataset", required: true }, [...names, ...datasets.map((d) => d.label)].map((n) => h("option", { value: n }, n))),
    h("label", { for: "job-base" }, "Base model (empty: the default)"),
    h("input", { id: "job-base", name: "base", type: "text" }),
    h(
      "div",
      { class: "grid" },
      pick("job-method", "method", "Method", [["", "default (every weight)"], ["lora", "LoRA adapter"], ["dpo", "DPO (preference pairs)"]]),
      h("div", {}, h("label", { for: "job-rank" }, "LoRA rank (empty: 16)"), h("input", { id: "job-rank", name: "rank", type: "number", min: "1", step: "1" })),
      pick("job-backend", "backend", "Where", [["", "default backend"], ["local", "here"], ["ray", "Ray cluster"], ["openai", "OpenAI"]]),
    ),
    h("div", { class: "grid" }, KNOBS.map(([key, label, step]) => h("div", {}, h("label", { for: `hp-${key}` }, label), h("input", { id: `hp-${key}`, name: key, type: "number", step, min: "0" })))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Start training")),
    result,
  );
  return h("details", { open: true }, h("summary", {}, "Start a job"), form);
}

function pick(id, name, label, options) {
  return h("div", {}, h("label", { for: id }, label), h("select", { id, name }, options.map(([value, text]) => h("option", { value }, text))));
}

async function submitJob(event, form, result) {
  event.preventDefault();
  const data = new FormData(form);
  const hyperparameters = {};
  for (const [key] of KNOBS) {
    const value = data.get(key);
    if (value !== "") hyperparameters[key] = Number(value);
  }
  const body = { dataset: data.get("dataset"), hyperparameters };
  if (data.get("base")) body.base = data.get("base");
  if (data.get("backend")) body.backend = data.get("backend");
  const method = data.get("method");
  if (method) {
    body.method = { type: method };
    if (data.get("rank")) body.method.lora = { r: Number(data.get("rank")) };
  }
  try {
    const job = await post("/v1/jobs", body);
    location.hash = `#/jobs/${enc(job.id)}`;
  } catch (error) {
    notice(result, `The job was not started: ${error.message}`, "error");
  }
}

// One job: facts, controls, live charts and the events log.
export async function jobPage(view, jobId) {
  let job = await get(`/v1/jobs/${enc(jobId)}`);
  const facts = h("div", { class: "cards", "aria-live": "polite" });
  const controlsBox = h("div", { class: "actions" });
  const message = h("div");
  const log = h("ol", { class: "log", "aria-label": "Events", tabindex: "0" });
  const lossBox = h("div", { class: "chart", id: "chart-loss" });
  const lrBox = h("div", { class: "chart", id: "chart-lr" });
  const speedBox = h("div", { class: "chart", id: "chart-speed" });
  const heading = h("h2", {}, `Job ${job.name} (${job.id})`);
  view.replaceChildren(heading, facts, controlsBox, message, h("h3", {}, "Loss"), lossBox, h("h3", {}, "Learning rate"), lrBox, h("h3", {}, "Tokens per second"), speedBox, h("h3", {}, "Events"), log, lineage(job));
  const loss = new SeriesChart(lossBox, { name: "loss", title: "Training and evaluation loss", labels: ["train loss", "eval loss"], yLabel: "loss", points: [false, true] });
  const lr = new SeriesChart(lrBox, { name: "lr", title: "Learning rate", labels: ["learning rate"], yLabel: "lr" });
  const speed = new SeriesChart(speedBox, { name: "speed", title: "Throughput", labels: ["tokens/s"], yLabel: "tokens/s" });
  const latest = {};
  let shown = null;
  const render = () => {
    facts.replaceChildren(...card("Status", status(job.status)), ...card("Step", latest.step ? `${latest.step} / ${latest.total_steps}` : "—"), ...card("Loss", number(latest.loss)), ...card("Eval loss", number(latest.eval_loss)), ...card("Learning rate", number(latest.learning_rate, 6)), ...card("Tokens/s", number(latest.tokens_per_s, 0)), ...card("ETA", ACTIVE.has(job.status) ? duration(latest.eta_s) : "—"));
    if (shown === job.status) return; // rebuilt only on a change, so keyboard focus stays put
    shown = job.status;
    controlsBox.replaceChildren(...jobButtons(job, async (action) => {
      try {
        // The status shown comes from the event stream only: the answer to this request
        // can arrive after newer state events and would put an old status back.
        const answer = await post(`/v1/jobs/${enc(job.id)}/${action}`);
        notice(message, `Asked to ${action}: the job was ${answer.status} when asked; this page follows its events.`);
      } catch (error) {
        notice(message, `Could not ${action} the job: ${error.message}`, "error");
      }
    }));
  };
  render();
  const stop = new AbortController();
  onLeave(() => {
    stop.abort();
    for (const chart of [loss, lr, speed]) chart.destroy();
  });
  const onEvent = ({ event, data, received }) => {
    if (event === "progress") {
      Object.assign(latest, data);
      loss.put(0, data.step, data.loss, received);
      lr.put(0, data.step, data.learning_rate, received);
      speed.put(0, data.step, data.tokens_per_s, received);
    } else if (event === "eval") {
      latest.eval_loss = data.eval_loss;
      loss.put(1, data.step, data.eval_loss, received);
    } else if (event === "state") {
      job = { ...job, status: data.status };
    }
    log.append(h("li", {}, `#${log.childElementCount + 1} ${event}: ${summary(event, data)}`));
    if (log.childElementCount > 500) log.firstChild.remove();
    scheduleRender();
  };
  let pending = false;
  const scheduleRender = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  };
  followJob(job.id, onEvent, stop.signal).catch((error) => notice(message, `The live stream stopped: ${error.message}`, "error"));
}

function card(label, value) {
  return [h("dl", { class: "card", "data-fact": label.toLowerCase() }, h("dt", {}, label), h("dd", {}, value))];
}

function jobButtons(job, act) {
  if (!controls(job)) return [];
  const offer = [
    ["pause", "Pause", ["queued", "running", "validating_files"]],
    ["resume", "Resume", ["paused"]],
    ["cancel", "Cancel", ["queued", "running", "paused", "validating_files"]],
  ];
  return offer
    .filter(([action, , states]) => states.includes(job.status) && can("POST", `/v1/jobs/{id}/${action}`))
    .map(([action, label]) => h("button", { type: "button", class: action === "cancel" ? "danger" : "", onclick: () => act(action) }, label));
}

function summary(event, data) {
  if (event === "progress") return `step ${data.step}/${data.total_steps} loss ${number(data.loss)} lr ${number(data.learning_rate, 6)}`;
  if (event === "eval") return `step ${data.step} eval loss ${number(data.eval_loss)}`;
  if (event === "state") return [data.status, data.reason || data.error].filter(Boolean).join(" — ");
  if (event === "log") return `${data.level}: ${data.message}`;
  return JSON.stringify(data).slice(0, 200);
}

function lineage(job) {
  const items = [
    `dataset ${job.dataset_id}`,
    `base ${job.base}`,
    `backend ${job.backend}`,
    `requested by ${job.requested_by}${job.room_id ? ` in ${job.room_id}` : " over the API"}`,
    `created ${when(job.created_at)}`,
  ];
  return h(
    "details",
    {},
    h("summary", {}, "Details"),
    h("ul", {}, items.map((t) => h("li", {}, t)), job.model_id ? h("li", {}, "model ", h("a", { href: "#/models" }, job.model_id)) : null),
    h("pre", {}, JSON.stringify(job.hyperparameters, null, 2)),
  );
}

// Several runs' training loss on one chart, each live while it runs.
export async function comparePage(view, ids) {
  const box = h("div", { class: "chart", id: "chart-compare" });
  const message = h("div");
  const jobs = await Promise.all(ids.map((id) => get(`/v1/jobs/${enc(id)}`).catch((e) => ({ id, error: e }))));
  const found = jobs.filter((j) => !j.error);
  view.replaceChildren(h("h2", {}, "Runs compared"), message, box, table(["Series", "Job", "Status", "Dataset", "Hyperparameters"], found.map((j, i) => h("tr", {}, h("td", {}, `${i + 1}`), h("td", {}, h("a", { href: `#/jobs/${enc(j.id)}` }, `${j.name} (${j.id})`)), h("td", {}, status(j.status)), h("td", {}, j.dataset_id), h("td", {}, JSON.stringify(j.hyperparameters))))));
  const missing = jobs.filter((j) => j.error).map((j) => j.id);
  if (missing.length) notice(message, `Not found: ${missing.join(", ")}`, "error");
  const chart = new SeriesChart(box, { name: "compare", title: "Training loss by run", labels: found.map((j, i) => `${i + 1}: ${j.name} (${j.id})`), yLabel: "loss" });
  const stop = new AbortController();
  onLeave(() => {
    stop.abort();
    chart.destroy();
  });
  found.forEach((job, k) =>
    followJob(job.id, ({ event, data, received }) => event === "progress" && chart.put(k, data.step, data.loss, received), stop.signal).catch((error) => {
      if (!(error instanceof ApiError && error.status === 404)) notice(message, error.message, "error");
    }),
  );
}
