// Playground: one prompt to one or two models, with sampling settings; every answer is
// saved by the server as a prediction. Answers are streamed through the OpenAI-style
// routes when the server has them (keywords are a Trainbot parameter: those go through
// /v1/generate, which answers whole). A chat keeps its turns as messages.
import { call, get, streamChunks } from "./api.js";
import { h, notice } from "./dom.js";
import { can } from "./session.js";

const PARAMS = [
  ["temperature", "Temperature", "0.8", "0.05", "0", "5"],
  ["top_p", "Top-p", "0.95", "0.01", "0.01", "1"],
  ["max_tokens", "Max tokens", "64", "1", "1", "4096"],
  ["seed", "Seed (empty: random)", "", "1", "0", "4294967295"],
];
const STREAMS = { completion: "/openai/v1/completions", chat: "/openai/v1/chat/completions" };

export async function playgroundPage(view) {
  const { models } = await get("/v1/models");
  const message = h("div");
  if (!can("POST", "/v1/generate")) {
    view.replaceChildren(h("h2", {}, "Playground"), h("p", {}, "This token may not generate text (that needs the train scope)."));
    return;
  }
  if (!models.length) {
    view.replaceChildren(h("h2", {}, "Playground"), h("p", {}, "No models yet: a finished training job registers one."));
    return;
  }
  const options = models.map((m) => h("option", { value: m.id, selected: m.active }, `${m.label}${m.active ? " (active)" : ""}`));
  const choices = (id, label, withNone) =>
    h("div", {}, h("label", { for: id }, label), h("select", { id, name: id }, withNone ? h("option", { value: "", selected: true }, "none") : null, withNone ? options.map((o) => o.cloneNode(true)) : options));
  const outputs = ["first", "second"].map((which, i) => h("div", { class: "output", id: `output-${"ab"[i]}`, "aria-live": "polite", "aria-label": `Answer of the ${which} model` }));
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
  const mode = data.get("mode");
  const said = String(data.get("prompt"));
  message.replaceChildren();
  await Promise.all(
    [data.get("model-a"), data.get("model-b")].map(async (model, i) => {
      if (!model) return outputs[i].replaceChildren();
      if (mode === "completion") outputs[i].replaceChildren();
      const asked = mode === "chat" ? [...turns[i], { role: "user", content: said }] : null;
      if (asked) outputs[i].append(h("p", {}, h("strong", {}, "You: "), said));
      const answer = h("p", { class: "answer" });
      const meta = h("p", { class: "muted" }, "Generating…");
      outputs[i].append(answer, meta);
      try {
        const text = keywords.length || !can("POST", STREAMS[mode])
          ? await whole(model, said, asked, { ...params, keywords }, answer, meta)
          : await streamed(model, said, asked, params, answer, meta);
        if (asked) turns[i].push({ role: "user", content: said }, { role: "assistant", content: text });
      } catch (error) {
        meta.textContent = "";
        notice(message, `Generation failed: ${error.message}`, "error");
      }
    }),
  );
}

// Through the OpenAI-style route with stream=true: the text grows as pieces arrive.
async function streamed(model, prompt, messages, params, answer, meta) {
  const body = { model, ...params, stream_options: { include_usage: true }, ...(messages ? { messages } : { prompt }) };
  let text = "";
  let pieces = 0;
  let usage = null;
  let name = model;
  for await (const chunk of streamChunks(messages ? STREAMS.chat : STREAMS.completion, body)) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.model) name = chunk.model;
    const choice = chunk.choices && chunk.choices[0];
    const piece = choice ? (choice.text ?? choice.delta?.content ?? "") : "";
    if (piece) {
      text += piece;
      pieces += 1;
      answer.textContent = text;
      answer.dataset.pieces = String(pieces);
    }
  }
  const tokens = usage ? `${usage.completion_tokens} tokens · ` : "";
  meta.textContent = `${name} · ${tokens}streamed in ${pieces} pieces · saved as a prediction`;
  answer.dataset.done = "true";
  return text;
}

// Through /v1/generate: the answer arrives whole, with the saved prediction's id.
async function whole(model, prompt, messages, params, answer, meta) {
  const chatPrompt = messages ? [...messages.map((m) => `${m.role === "user" ? "User" : "Assistant"}: ${m.content}`), "Assistant:"].join("\n") : prompt;
  const body = { model, prompt: chatPrompt, ...params, ...(messages ? { stop: ["\nUser:"] } : {}) };
  const out = await call("POST", "/v1/generate", { body });
  answer.textContent = out.text;
  answer.dataset.pieces = "1";
  answer.dataset.done = "true";
  meta.textContent = `${out.model} · ${out.usage.completion_tokens} tokens · ${out.latency_s.toFixed(2)} s · saved as prediction ${out.prediction_id}`;
  return out.text;
}
