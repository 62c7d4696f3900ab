// Playground: one prompt to one or two models, with sampling settings; every answer is
// saved by the server as a prediction. A chat keeps its turns and sends them as one prompt.
import { call, get } from "./api.js";
import { h, notice } from "./dom.js";
import { can } from "./session.js";

const PARAMS = [
  ["temperature", "Temperature", "0.8", "0.05", "0", "5"],
  ["top_p", "Top-p", "0.95", "0.01", "0.01", "1"],
  ["max_tokens", "Max tokens", "64", "1", "1", "4096"],
  ["seed", "Seed (empty: random)", "", "1", "0", "4294967295"],
];

export async function playgroundPage(view) {
  const { models } = await get("/v1/models");
  const message = h("div");
  if (!can("POST", "/v1/generate")) {
    view.replaceChildren(h("h2", {}, "Playground"), h("p", {}, "This token may not generate text (that needs the train scope)."));
    return;
  }
  const choices = (id, label, withNone) =>
    h("div", {}, h("label", { for: id }, label), h("select", { id, name: id }, withNone ? h("option", { value: "-" }, "none") : null, h("option", { value: "" }, "the active model"), models.map((m) => h("option", { value: m.id }, `${m.label}${m.active ? " (active)" : ""}`))));
  const outputs = [h("div", { class: "output", id: "output-a", "aria-live": "polite", "aria-label": "Answer of the first model" }), h("div", { class: "output", id: "output-b", "aria-live": "polite", "aria-label": "Answer of the second model" })];
  const turns = [[], []];
  const form = h(
    "form",
    { id: "playground" },
    h("div", { class: "grid" }, choices("model-a", "Model", false), choices("model-b", "Side by side with", true)),
    h("fieldset", {}, h("legend", {}, "Mode"), h("input", { type: "radio", name: "mode", id: "mode-completion", value: "completion", checked: true }), h("label", { for: "mode-completion", class: "inline" }, "Completion"), h("input", { type: "radio", name: "mode", id: "mode-chat", value: "chat" }), h("label", { for: "mode-chat", class: "inline" }, "Chat")),
    h("label", { for: "prompt" }, "Prompt"),
    h("textarea", { id: "prompt", name: "prompt", required: true }),
    h("div", { class: "grid" }, PARAMS.map(([key, label, value, step, min, max]) => h("div", {}, h("label", { for: `p-${key}` }, label), h("input", { id: `p-${key}`, name: key, type: "number", value, step, min, max }))), h("div", {}, h("label", { for: "p-keywords" }, "Keywords (comma-separated)"), h("input", { id: "p-keywords", name: "keywords", type: "text" }))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Generate"), h("button", { type: "button", onclick: () => reset(turns, outputs) }, "New chat")),
  );
  form.addEventListener("submit", (event) => generate(event, form, outputs, turns, message));
  view.replaceChildren(h("h2", {}, "Playground"), form, message, h("div", { class: "side" }, outputs));
}

function reset(turns, outputs) {
  turns.forEach((t) => (t.length = 0));
  outputs.forEach((o) => o.replaceChildren());
}

async function generate(event, form, outputs, turns, message) {
  event.preventDefault();
  const data = new FormData(form);
  const params = {};
  for (const [key] of PARAMS) if (data.get(key) !== "") params[key] = Number(data.get(key));
  const keywords = String(data.get("keywords") || "").split(",").map((k) => k.trim()).filter(Boolean);
  if (keywords.length) params.keywords = keywords;
  const chat = data.get("mode") === "chat";
  const models = [data.get("model-a"), data.get("model-b")];
  message.replaceChildren();
  await Promise.all(
    models.map(async (model, i) => {
      if (model === "-") return outputs[i].replaceChildren();
      const said = String(data.get("prompt"));
      const prompt = chat ? [...turns[i], `User: ${said}`, "Assistant:"].join("\n") : said;
      const body = { prompt, ...params, ...(chat ? { stop: ["\nUser:"] } : {}) };
      if (model) body.model = model;
      const pending = h("p", { class: "muted" }, "Generating…");
      outputs[i].append(pending);
      try {
        const out = await call("POST", "/v1/generate", { body });
        pending.remove();
        const text = out.text.trim();
        if (chat) turns[i].push(`User: ${said}`, `Assistant: ${text}`);
        outputs[i].append(
          h("p", {}, chat ? h("strong", {}, "You: ") : null, chat ? said : null),
          h("p", { class: "answer" }, chat ? h("strong", {}, `${out.model}: `) : null, text || "(empty)"),
          h("p", { class: "muted" }, `${out.model} · ${out.usage.completion_tokens} tokens · ${out.latency_s.toFixed(2)} s · saved as prediction ${out.prediction_id}`),
        );
      } catch (error) {
        pending.remove();
        notice(message, `Generation failed: ${error.message}`, "error");
      }
    }),
  );
}
