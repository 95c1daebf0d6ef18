// Which program serves this page? eqm-server (the whole region) or a city's eqm-gateway (the
// custodian page only, working on while the city's link to the centre is down). The gateway's
// /healthz names its city and gw_id, and says whether its central link is up.
import { signal } from "@preact/signals";
import { backoff } from "./connectivity";

export interface Host {
  kind: "server" | "gateway";
  /** The gateway's city. */
  city?: string;
  gwId?: string;
  /** The gateway's link to the central broker (true at the server). */
  centralOnline: boolean;
}

export const host = signal<Host | null>(null);

/** What /healthz says about the program that answers it. */
export function hostFrom(body: unknown): Host {
  const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  if (typeof b.gw_id === "string" && typeof b.city === "string") {
    return { kind: "gateway", city: b.city, gwId: b.gw_id, centralOnline: b.central_mqtt === true };
  }
  return { kind: "server", centralOnline: true };
}

async function readHealth(): Promise<Host> {
  const r = await fetch("healthz", { cache: "no-store" });
  return hostFrom(await r.json().catch(() => ({})));
}

/** How often the gateway page re-reads /healthz for the offline banner. */
const gatewayPollMs = 3000;

/** Finds out who serves the page (retrying until it answers); at a gateway keeps watching. */
export async function detectHost(): Promise<Host> {
  for (let attempt = 0; ; attempt++) {
    try {
      const h = await readHealth();
      host.value = h;
      if (h.kind === "gateway") watchGateway();
      return h;
    } catch {
      await new Promise((r) => window.setTimeout(r, backoff(attempt)));
    }
  }
}

function watchGateway(): void {
  window.setInterval(async () => {
    try {
      const h = await readHealth();
      if (h.kind === "gateway") host.value = h;
    } catch {
      // The gateway itself is unreachable: the connection banner says so (connectivity.ts).
    }
  }, gatewayPollMs);
}
