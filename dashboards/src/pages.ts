// The page map: every page, who may open it, and whether it is in the navigation. Each page is
// its own chunk (loaded on first visit), so a role's browser fetches only what it shows. A new
// page is one entry here, one file under pages/ and its words in the catalogs.
import type { ComponentType } from "preact";
import type { MessageKey } from "./i18n";
import type { Role } from "./session";

export interface PageProps {
  params: Record<string, string>;
}

export interface PageDef {
  /** `/devices/:id` */
  path: string;
  title: MessageKey;
  roles: readonly Role[];
  /** Shown in the navigation bar (pages reached from a list are not). */
  nav: boolean;
  /** Served by a city's eqm-gateway too (the custodian's pages, working offline). */
  atGateway?: boolean;
  load: () => Promise<{ default: ComponentType<PageProps> }>;
}

const everyone: readonly Role[] = ["dispatcher", "custodian", "officer", "admin"];

export const pages: readonly PageDef[] = [
  {
    path: "/region",
    title: "page.region",
    roles: ["dispatcher", "admin"],
    nav: true,
    load: () => import("./pages/region"),
  },
  {
    path: "/plan",
    title: "page.plan",
    roles: ["dispatcher"],
    nav: true,
    load: () => import("./pages/plan"),
  },
  {
    path: "/transfers",
    title: "page.transfers",
    roles: ["dispatcher"],
    nav: true,
    load: () => import("./pages/transfers"),
  },
  {
    path: "/utilization",
    title: "page.utilization",
    roles: ["dispatcher"],
    nav: true,
    load: () => import("./pages/utilization"),
  },
  {
    path: "/desk",
    title: "page.desk",
    roles: ["custodian"],
    nav: true,
    atGateway: true,
    load: () => import("./pages/desk"),
  },
  {
    path: "/pickups",
    title: "page.pickups",
    roles: ["custodian"],
    nav: true,
    load: () => import("./pages/pickups"),
  },
  {
    path: "/labels",
    title: "page.labels",
    roles: ["custodian", "admin"],
    nav: true,
    atGateway: true,
    load: () => import("./pages/labels"),
  },
  {
    path: "/reserve",
    title: "page.reserve",
    roles: ["officer"],
    nav: true,
    load: () => import("./pages/reserve"),
  },
  {
    path: "/bookings",
    title: "page.bookings",
    roles: ["officer"],
    nav: true,
    load: () => import("./pages/bookings"),
  },
  {
    path: "/available",
    title: "page.available",
    roles: ["officer"],
    nav: true,
    load: () => import("./pages/available"),
  },
  {
    path: "/devices",
    title: "page.devices",
    roles: ["admin", "dispatcher"],
    nav: true,
    load: () => import("./pages/devices"),
  },
  {
    path: "/people",
    title: "page.people",
    roles: ["admin"],
    nav: true,
    load: () => import("./pages/people"),
  },
  {
    path: "/rules",
    title: "page.rules",
    roles: ["admin"],
    nav: true,
    load: () => import("./pages/rules"),
  },
  {
    path: "/quotas",
    title: "page.quotas",
    roles: ["admin"],
    nav: true,
    load: () => import("./pages/quotas"),
  },
  {
    path: "/alerts",
    title: "page.alerts",
    roles: ["dispatcher", "custodian", "admin"],
    nav: true,
    load: () => import("./pages/alerts"),
  },
  {
    path: "/devices/:id",
    title: "page.device",
    roles: everyone,
    nav: false,
    atGateway: true,
    load: () => import("./pages/device"),
  },
];

/** Where each role starts: its one main task. */
export const startPage: Record<Role, string> = {
  dispatcher: "/region",
  custodian: "/desk",
  officer: "/reserve",
  admin: "/devices",
};
