// JavaScript per page, gzipped: for every page of the build (dashboards/dist), the entry chunk
// plus the page's own chunk and everything they import (the page's own dynamic imports, such as
// the chart library, included), each file counted once, gzipped at
// level 9 as a server would send it. Printed next to the largest page's figure (the ratio), and
// the largest against the 150 KB budget; exits 1 when a page is over it.
//   node bench/web_bundle/measure.mjs [DIST]      (default dashboards/dist)
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const budgetKb = 150;
const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(process.argv[2] ?? join(here, "../../dashboards/dist"));
let manifest;
try {
  manifest = JSON.parse(readFileSync(join(dist, ".vite/manifest.json"), "utf8"));
} catch {
  console.error(`web_bundle: no ${join(dist, ".vite/manifest.json")}: run \`npm run build\` in dashboards/ first`);
  process.exit(2);
}

const gzipped = new Map();
function gzipKb(file) {
  if (!gzipped.has(file)) gzipped.set(file, gzipSync(readFileSync(join(dist, file)), { level: 9 }).length / 1024);
  return gzipped.get(file);
}

/**
 * The chunk's file and every chunk it imports, recursively: statically, and with `dynamic` also
 * what a page loads by itself once it is shown (the charts of the utilization page).
 */
function closure(key, out = new Set(), dynamic = false) {
  const chunk = manifest[key];
  if (!chunk || out.has(chunk.file)) return out;
  out.add(chunk.file);
  for (const dep of chunk.imports ?? []) closure(dep, out, dynamic);
  if (dynamic) for (const dep of chunk.dynamicImports ?? []) closure(dep, out, dynamic);
  return out;
}

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
const entry = closure(entryKey);
const pages = (manifest[entryKey].dynamicImports ?? []).filter((k) => k.includes("/pages/"));
const rows = pages.map((key) => {
  const files = closure(key, new Set(entry), true);
  const js = [...files].filter((f) => f.endsWith(".js"));
  return { page: key.replace(/^src\/pages\//, "").replace(/\.tsx?$/, ""), kb: js.reduce((s, f) => s + gzipKb(f), 0), files: js.length };
});
rows.push({ page: "(login only)", kb: [...entry].reduce((s, f) => s + gzipKb(f), 0), files: entry.size });
rows.sort((a, b) => b.kb - a.kb);
const largest = rows[0];
const css = (manifest[entryKey].css ?? []).reduce((s, f) => s + gzipKb(f), 0);

console.log(`JavaScript per page, gzipped (level 9), from ${dist}`);
console.log(`${"page".padEnd(14)} ${"KB".padStart(7)} ${"files".padStart(6)}  vs largest`);
for (const r of rows) {
  console.log(`${r.page.padEnd(14)} ${r.kb.toFixed(1).padStart(7)} ${String(r.files).padStart(6)}  ${(r.kb / largest.kb).toFixed(2)}`);
}
console.log(`largest page: ${largest.page} ${largest.kb.toFixed(1)} KB; budget ${budgetKb} KB; ratio ${(largest.kb / budgetKb).toFixed(2)}`);
console.log(`(CSS, shared by every page: ${css.toFixed(1)} KB gzipped)`);
if (largest.kb > budgetKb) {
  console.error(`web_bundle: ${largest.page} is over the ${budgetKb} KB budget`);
  process.exit(1);
}
