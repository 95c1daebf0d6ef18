// Which pages a signed-in person sees: by role, and at a gateway only the custodian's pages.
import { host } from "./host";
import { pages, startPage, type PageDef } from "./pages";
import { match } from "./router";
import type { Session } from "./session";

export function visible(def: PageDef, s: Session): boolean {
  if (!def.roles.includes(s.role)) return false;
  return host.value?.kind !== "gateway" || def.atGateway === true;
}

export function findPage(path: string, s: Session): { def: PageDef; params: Record<string, string> } | null {
  for (const def of pages) {
    const params = match(def.path, path);
    if (params && visible(def, s)) return { def, params };
  }
  return null;
}

/** The role's start page, or its first page this host serves. */
export function startOf(s: Session): string {
  const start = startPage[s.role];
  const def = pages.find((p) => p.path === start);
  if (def && visible(def, s)) return start;
  return pages.find((p) => p.nav && visible(p, s))?.path ?? "/login";
}

/** The navigation entries for this person here. */
export function navPages(s: Session): PageDef[] {
  return pages.filter((p) => p.nav && visible(p, s));
}
