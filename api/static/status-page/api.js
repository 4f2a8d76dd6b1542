// The status page's only way to the service: the token kept in this tab, and reads of the
// service's own API (same origin; the page's CSP forbids any other). Nothing here writes.
"use strict";

const TOKEN_KEY = "migrateway.token";

// A problem+json answer (RFC 9457), or a failure to reach the service, as an Error whose
// title and detail the page shows.
class ApiProblem extends Error {
  constructor(status, title, detail) {
    super(title + (detail ? ": " + detail : ""));
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value.trim().replace(/^Bearer\s+/i, "")),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function call(method, path, body) {
  const headers = { Authorization: "Bearer " + token.get() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", // the token is the only credential; no cookie goes along
      cache: "no-store",
      redirect: "error",
    });
  } catch (error) {
    throw new ApiProblem(0, "The service cannot be reached", String(error.message || error));
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.startsWith("application/problem+json") || type.startsWith("application/json")) {
    try {
      const problem = await response.json();
      return new ApiProblem(
        response.status,
        problem.title || response.statusText,
        problem.detail || ""
      );
    } catch (_) {
      // not JSON after all: fall through to the status line
    }
  }
  return new ApiProblem(response.status, `${response.status} ${response.statusText}`, "");
}

// The reads the page makes. POST /plan is one: a plan runs nothing and needs the read scope.
// It plans the upgrade to "heads", what GET /current calls pending: with two heads, one to
// "head" is refused (several heads match it). With one head both plans are the same.
const api = {
  current: async () => (await call("GET", "/current")).json(),
  operations: async (limit) => (await call("GET", `/operations?limit=${limit}`)).json(),
  verify: async () => (await call("GET", "/verify")).json(),
  planUpgrade: async () =>
    (await call("POST", "/plan", { action: "upgrade", target: "heads" })).json(),
  // The graph as SVG; as DOT text where the service has no SVG renderer (501).
  graph: async () => {
    try {
      const response = await call("GET", "/revisions/graph?format=svg");
      return { format: "svg", blob: await response.blob() };
    } catch (problem) {
      if (problem.status !== 501) throw problem;
      const response = await call("GET", "/revisions/graph?format=dot");
      return { format: "dot", text: await response.text(), why: problem };
    }
  },
};
