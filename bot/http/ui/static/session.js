// Who is signed in and what their token may do, as the server says (GET /ui/api/me).
export const session = { me: null };

// Whether the token may call this operation ("POST", "/v1/jobs/{id}/pause").
export function can(method, path) {
  return Boolean(session.me && session.me.allowed.includes(`${method} ${path}`));
}

// Job controls follow the chat commands' rule: the job's requester, or an admin.
export function controls(job) {
  if (!session.me) return false;
  return job.requested_by === session.me.client || session.me.scopes.includes("admin");
}

// Every page registers what it opened (streams, timers) here; leaving the page closes them.
let cleanups = [];
export function onLeave(cleanup) {
  cleanups.push(cleanup);
}
export function leave() {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
}
