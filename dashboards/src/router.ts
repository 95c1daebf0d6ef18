// Hash routes (`#/desk`, `#/devices/cam-1`): the same build works from any folder of any
// static server (eqm-server and eqm-gateway serve dist/ as it is) and needs no fallback page.
import { signal } from "@preact/signals";

export interface Location {
  /** `/devices/cam-1` */
  path: string;
  query: URLSearchParams;
}

function read(): Location {
  const raw = typeof location === "undefined" ? "" : location.hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?", 2);
  return { path: path && path.startsWith("/") ? path : "/", query: new URLSearchParams(query) };
}

export const current = signal<Location>(read());

if (typeof window !== "undefined") {
  window.addEventListener("hashchange", () => {
    current.value = read();
  });
}

/** Goes to `path` (with an optional query); replaces the history entry when asked. */
export function navigate(path: string, replace = false): void {
  const target = `#${path}`;
  if (replace) {
    history.replaceState(null, "", target);
    current.value = read();
  } else if (location.hash !== target) {
    location.hash = target;
  }
}

/** The current address as `navigate` takes it (path and query). */
export function here(): string {
  const q = current.value.query.toString();
  return current.value.path + (q ? `?${q}` : "");
}

/** Matches `/devices/:id` against a path; the parameters, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) {
      if (!got[i]) return null;
      try {
        params[want[i].slice(1)] = decodeURIComponent(got[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== got[i]) {
      return null;
    }
  }
  return params;
}

/** `#/devices/<id>` with the id escaped. */
export function deviceHref(id: string): string {
  return `#/devices/${encodeURIComponent(id)}`;
}
