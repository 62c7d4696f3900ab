// Sign-in and the hash router (#/jobs, #/jobs/<id>, #/compare/<id>,<id>, #/models, ...).
import { ApiError, call, token } from "./api.js";
import { datasetPage, datasetsPage } from "./datasets.js";
import { h } from "./dom.js";
import { comparePage, jobPage, jobsPage } from "./jobs.js";
import { modelsPage } from "./models.js";
import { playgroundPage } from "./playground.js";
import { schedulesPage } from "./schedules.js";
import { leave, session } from "./session.js";

const ROUTES = [
  [/^#\/jobs\/([^/]+)$/, (view, id) => jobPage(view, decodeURIComponent(id))],
  [/^#\/compare\/(.+)$/, (view, ids) => comparePage(view, ids.split(",").map(decodeURIComponent))],
  [/^#\/models$/, modelsPage],
  [/^#\/datasets\/([^/]+)$/, (view, id) => datasetPage(view, decodeURIComponent(id))],
  [/^#\/datasets$/, datasetsPage],
  [/^#\/playground$/, playgroundPage],
  [/^#\/schedules$/, schedulesPage],
  [/^#\/jobs$/, jobsPage],
];

const $ = (id) => document.getElementById(id);

async function show() {
  leave();
  const view = $("view");
  if (!session.me) return;
  const hash = ROUTES.some(([pattern]) => pattern.test(location.hash)) ? location.hash : "#/jobs";
  for (const link of document.querySelectorAll("nav a")) {
    const here = hash.startsWith(link.getAttribute("href"));
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const [pattern, page] = ROUTES.find(([p]) => p.test(hash));
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  view.dataset.ready = "";
  try {
    await page(view, ...hash.match(pattern).slice(1));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOut("Your token is no longer accepted; sign in again.");
    view.replaceChildren(h("h2", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, error.message));
  }
  view.dataset.ready = hash; // tests and benches wait for this, not for a timer
}

async function signIn(given) {
  const me = await call("GET", "/ui/api/me", { as: given });
  session.me = me;
  token.set(given);
  $("signin-view").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = `${me.client} (${me.scopes.join(", ")})`;
  await show();
}

function signOut(reason = "") {
  leave();
  token.clear();
  session.me = null;
  $("view").replaceChildren();
  $("nav").hidden = true;
  $("who").hidden = true;
  $("signin-view").hidden = false;
  $("signin-error").textContent = reason;
  $("token").focus();
}

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const given = $("token").value.trim();
  try {
    $("token").value = "";
    await signIn(given);
  } catch (error) {
    const refused = error instanceof ApiError && error.status === 401;
    $("signin-error").textContent = refused ? "That token was refused: check it and try again." : `Could not sign in: ${error.message}`;
  }
});
$("signout").addEventListener("click", () => signOut());
window.addEventListener("hashchange", show);

if (token.get()) signIn(token.get()).catch(() => signOut("Sign in again: the saved token was refused."));
else signOut();
