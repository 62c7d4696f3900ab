// Models: every version with its metrics and lineage; activate, merge, delete, download.
import { del, download, get, post } from "./api.js";
import { bytes, enc, h, notice, number, table, when } from "./dom.js";
import { can } from "./session.js";

export async function modelsPage(view) {
  const message = h("div");
  const body = h("div");
  view.replaceChildren(h("h2", {}, "Models"), message, body);
  const load = async () => {
    const [{ models }, { datasets }] = await Promise.all([get("/v1/models"), get("/v1/datasets")]);
    const labels = Object.fromEntries(datasets.map((d) => [d.id, d.label]));
    const act = (verb, run) => async () => {
      try {
        const model = await run();
        notice(message, `${model.label}: ${verb}.`);
        await load();
      } catch (error) {
        notice(message, `Could not ${verb.split(" ")[0].replace(/d$/, "")}: ${error.message}`, "error");
      }
    };
    const rows = models.map((m) =>
      h(
        "tr",
        { "data-model": m.id },
        h("th", { scope: "row" }, m.label, m.active ? h("span", { class: "ok" }, " ✓ active") : null),
        h("td", {}, lineage(m, labels)),
        h("td", { class: "num" }, number(m.metrics.eval_loss)),
        h("td", { class: "num" }, number(m.metrics.perplexity, 1)),
        h("td", { class: "num" }, number(m.metrics.train_loss)),
        h("td", { class: "num" }, bytes(m.size_bytes)),
        h("td", {}, when(m.created_at)),
        h("td", {}, h("div", { class: "actions" }, buttons(m, act))),
      ),
    );
    body.replaceChildren(
      models.length
        ? table(["Version", "Lineage", "Eval loss", "Perplexity", "Train loss", "Size", "Created", "Actions"], rows)
        : h("p", {}, "No models yet: a finished training job registers one."),
    );
  };
  await load();
}

function lineage(m, labels) {
  return h(
    "span",
    {},
    m.kind === "adapter" ? `LoRA adapter on ${m.base}` : `base ${m.base}`,
    m.dataset_id ? `, data ${labels[m.dataset_id] || m.dataset_id}` : "",
    m.job_id ? [", job ", h("a", { href: `#/jobs/${enc(m.job_id)}` }, m.job_id)] : "",
    m.backend !== "local" ? `, ${m.backend}` : "",
  );
}

function buttons(m, act) {
  const id = enc(m.id);
  const out = [];
  if (!m.active && can("POST", "/v1/models/{id}/activate"))
    out.push(h("button", { type: "button", onclick: act("activated", () => post(`/v1/models/${id}/activate`)) }, `Activate ${m.label}`));
  if (m.kind === "adapter" && can("POST", "/v1/models/{id}/merge"))
    out.push(h("button", { type: "button", onclick: act("merged into a full version", () => post(`/v1/models/${id}/merge`)) }, `Merge ${m.label}`));
  if (m.backend === "local" && can("GET", "/v1/models/{id}/archive"))
    out.push(h("button", { type: "button", onclick: () => download(`/v1/models/${id}/archive`, `${m.name}-v${m.version}.tar.gz`) }, `Download ${m.label}`));
  if (can("DELETE", "/v1/models/{id}"))
    out.push(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: (event) => {
            if (confirm(`Delete ${m.label}? Its files are removed.`)) act("deleted", () => del(`/v1/models/${id}`))(event);
          },
        },
        `Delete ${m.label}`,
      ),
    );
  return out;
}
