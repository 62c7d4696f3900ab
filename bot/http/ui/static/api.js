// The API client: the token (session storage only), JSON calls, and event streams read
// with fetch so the token travels in the Authorization header, never in a URL.
const KEY = "trainbot.token";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers(extra = {}, given = token.get()) {
  return given ? { Authorization: `Bearer ${given}`, ...extra } : extra;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : { code: "http_error", message: response.statusText };
  return new ApiError(response.status, error.code, error.message || `HTTP ${response.status}`, error.details);
}

// One JSON call; `body` may be a plain object (sent as JSON) or FormData.
export async function call(method, path, { body, as } = {}) {
  const init = { method, headers: headers({ Accept: "application/json" }, as) };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, { body });
export const del = (path) => call("DELETE", path);

// A download (an archive): fetched with the token, handed to the browser as a file.
export async function download(path, filename) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Parse server-sent events from a fetch body; yields {id, event, data, received}.
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const received = performance.now();
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { id: null, event: "message", data: "", received };
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") message.id = Number(text);
        else if (field === "event") message.event = text;
        else if (field === "data") message.data += text;
      }
      if (message.id !== null) {
        message.data = JSON.parse(message.data || "null");
        yield message;
      }
    }
  }
}

const FINAL = new Set(["succeeded", "failed", "cancelled"]);

// Follow a job's events from the start to its final state, reconnecting after a drop
// from the last event seen. `onEvent` gets each event once; stop with `signal`.
export async function followJob(jobId, onEvent, signal) {
  let after = 0;
  let delay = 500;
  while (!signal.aborted) {
    try {
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events?after=${after}`, {
        headers: headers({ Accept: "text/event-stream" }),
        signal,
      });
      if (!response.ok) throw await failure(response);
      for await (const message of readEvents(response)) {
        after = message.id;
        delay = 500;
        onEvent(message);
        if (message.event === "state" && FINAL.has(message.data.status)) return;
      }
      const job = await get(`/v1/jobs/${encodeURIComponent(jobId)}`);
      if (FINAL.has(job.status)) return; // ended while we were away; its events were all read
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

// An OpenAI-style completion stream (`data: {chunk}` lines ending with `data: [DONE]`):
// yields each parsed chunk as it arrives. A failure before the stream is an ApiError;
// one in the middle arrives as a chunk with `error`, raised here as an ApiError too.
export async function* streamChunks(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ Accept: "text/event-stream", "Content-Type": "application/json" }),
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer
        .slice(0, end)
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("");
      buffer = buffer.slice(end + 2);
      if (!data) continue;
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError(500, chunk.error.code || "error", chunk.error.message, null);
      yield chunk;
    }
  }
}
