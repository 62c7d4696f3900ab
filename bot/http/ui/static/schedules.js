// Schedules and sources: when each runs next, what it decided or fetched last; trigger now.
import { get, post } from "./api.js";
import { enc, h, notice, number, table, when } from "./dom.js";
import { can } from "./session.js";

export async function schedulesPage(view) {
  const message = h("div");
  const body = h("div");
  view.replaceChildren(h("h2", {}, "Schedules and sources"), message, body);
  const trigger = (label, path) => async () => {
    try {
      await post(path);
      notice(message, `${label}: done.`);
      await load();
    } catch (error) {
      notice(message, `${label} failed: ${error.message}`, "error");
    }
  };
  const load = async () => {
    const [{ schedules }, { sources }] = await Promise.all([get("/v1/schedules"), get("/v1/sources")]);
    body.replaceChildren(
      h("h3", {}, "Retraining schedules"),
      schedules.length
        ? table(["Model", "Policy", "When", "Next check", "Last decisions", ""], schedules.map((s) => scheduleRow(s, trigger)))
        : h("p", {}, "No schedules are configured."),
      h("h3", {}, "Data sources"),
      sources.length
        ? table(["Source", "Dataset", "When", "Next fetch", "Last fetches", ""], sources.map((s) => sourceRow(s, trigger)))
        : h("p", {}, "No sources are configured."),
    );
  };
  await load();
}

function scheduleRow(s, trigger) {
  const decisions = s.decisions.map((d) => h("li", {}, `${when(d.created_at)}: ${d.retrain ? "retrain ▶" : "no retrain ■"} — ${d.reason}`, d.job_id ? [" (", h("a", { href: `#/jobs/${enc(d.job_id)}` }, d.job_id), ")"] : ""));
  const label = `Check ${s.model} now`;
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, s.model, h("div", { class: "muted" }, `on ${s.dataset}`)),
    h("td", {}, s.policy),
    h("td", {}, s.cron || `every ${s.every}`),
    h("td", {}, s.next_run ? when(s.next_run) : "off"),
    h("td", {}, decisions.length ? h("ul", {}, decisions) : "none yet"),
    h("td", {}, can("POST", "/v1/schedules/{model}/check") ? h("button", { type: "button", onclick: trigger(label, `/v1/schedules/${enc(s.model)}/check`) }, label) : null),
  );
}

function sourceRow(s, trigger) {
  const fetches = s.fetches.map((f) => h("li", {}, `${when(f.finished_at)}: ${f.ok ? "✓ ok" : "✗ failed"}, ${number(f.items)} items, ${number(f.new_items)} new${f.dataset_label ? ` → ${f.dataset_label}` : ""}${f.error ? ` — ${f.error}` : ""}`));
  const label = `Fetch ${s.name} now`;
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, s.name, h("div", { class: "muted" }, `${s.method} ${s.url}`)),
    h("td", {}, s.dataset),
    h("td", {}, s.cron || (s.every ? `every ${s.every}` : "on demand")),
    h("td", {}, s.running ? "fetching now" : s.next_run ? when(s.next_run) : "off"),
    h("td", {}, fetches.length ? h("ul", {}, fetches) : "none yet"),
    h("td", {}, can("POST", "/v1/sources/{name}/fetch") ? h("button", { type: "button", onclick: trigger(label, `/v1/sources/${enc(s.name)}/fetch`) }, label) : null),
  );
}
