// Standard-issue quotas (配备标准), for the admin: the minimum ready units per city and class (and
// analyte), edited in place and saved as a whole table (PUT /quotas), or imported from a CSV
// file (POST /quotas/import) with the refused rows listed; nothing is imported while a row is
// wrong. The current table exports as CSV, in the import's own columns.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call } from "../api";
import { analytes } from "../booking-form";
import { Loading, Notice, ProblemText } from "../components";
import { download, toCsv } from "../csv";
import { formatNumber, t, tWord } from "../i18n";
import { dayOf } from "../i18n/time";
import { api, className, type Quota } from "../planning";
import { describeError, fieldName, ruleWords, type Plain } from "../problems";
import { cityName, regionCities } from "../region";

const quotaClasses = ["body_camera", "drone", "analyzer", "dock"] as const;
const maxQuota = 100000;

interface QuotaDraft {
  city: string;
  class: string;
  analyte: string;
  min_ready: string;
}

interface RowError {
  line: number;
  field: string;
  message: string;
}

/** The table to send, or the wrong rows (index: words). Duplicates of (city, class, analyte) too. */
export function checkQuotas(rows: QuotaDraft[]): { items?: Quota[]; errors: Record<number, string> } {
  const errors: Record<number, string> = {};
  const seen = new Set<string>();
  const items: Quota[] = [];
  rows.forEach((r, i) => {
    const v = r.min_ready.trim();
    if (!/^\d+$/.test(v) || Number(v) > maxQuota) errors[i] = t("rule.whole_range", { field: t("quotas.min_ready"), min: 0, max: maxQuota });
    const key = `${r.city}|${r.class}|${r.class === "analyzer" ? r.analyte : ""}`;
    if (seen.has(key)) errors[i] = t("quotas.duplicate");
    seen.add(key);
    if (errors[i]) return;
    items.push({ city: r.city, class: r.class, ...(r.class === "analyzer" && r.analyte ? { analyte: r.analyte } : {}), min_ready: Number(v) });
  });
  return Object.keys(errors).length ? { errors } : { items, errors };
}

const toDraft = (q: Quota): QuotaDraft => ({ city: q.city, class: q.class, analyte: q.analyte ?? "", min_ready: String(q.min_ready) });

function Import({ onImported }: { onImported: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok?: number; problem?: Plain; rows?: RowError[] } | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return setOutcome({ problem: { reason: t("devices.import_choose") } });
    setBusy(true);
    setOutcome(null);
    try {
      const answer = await call<{ items?: unknown[]; imported?: number }>("POST", "api/v1/quotas/import", { raw: { text: await file.text(), contentType: "text/csv" } });
      setOutcome({ ok: answer?.imported ?? answer?.items?.length ?? 0 });
      onImported();
    } catch (err) {
      if (err instanceof ApiError && err.code === "unauthorized") return;
      const rows = err instanceof ApiError && Array.isArray(err.problem.errors) ? (err.problem.errors as RowError[]) : undefined;
      const problem = rows?.length ? { reason: t("devices.import_refused", { n: rows.length }), fix: t("devices.import_fix") } : describeError(err);
      setOutcome({ problem, rows });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="quota-import">
      <h2 id="quota-import">{t("quotas.import_title")}</h2>
      <p class="hint">{t("quotas.import_hint")}</p>
      <div class="field">
        <div class="file-pick">
          <input id="quota-file" class="visually-hidden" type="file" accept=".csv,text/csv" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)} />
          <label for="quota-file" class="button-like">
            {t("devices.choose_file")}
          </label>
          <span class="quiet">{file ? file.name : t("devices.no_file")}</span>
        </div>
      </div>
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t("devices.importing") : t("devices.import")}
      </button>
      {outcome?.ok !== undefined && <Notice kind="ok">{t("quotas.imported", { n: outcome.ok })}</Notice>}
      {outcome?.problem && (
        <Notice kind="error">
          <ProblemText problem={outcome.problem} />
        </Notice>
      )}
      {outcome?.rows && outcome.rows.length > 0 && (
        <div class="table-wrap">
          <table class="data-table" data-testid="quota-import-report">
            <thead>
              <tr>
                <th scope="col">{t("devices.line")}</th>
                <th scope="col">{t("devices.column")}</th>
                <th scope="col">{t("devices.why")}</th>
              </tr>
            </thead>
            <tbody>
              {outcome.rows.map((r, i) => (
                <tr key={i}>
                  <td class="num">{r.line}</td>
                  <td>{fieldName(r.field)}</td>
                  <td>{ruleWords(r.message)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </form>
  );
}

function Row({ r, set, error, onRemove }: { r: QuotaDraft; set: (p: Partial<QuotaDraft>) => void; error?: string; onRemove: () => void }) {
  return (
    <tr class={error ? "field-invalid" : undefined}>
      <td>
        <select aria-label={t("field.city")} value={r.city} onChange={(e) => set({ city: (e.currentTarget as HTMLSelectElement).value })}>
          {regionCities.map((c) => (
            <option key={c.code} value={c.code}>
              {cityName(c.code)}
            </option>
          ))}
        </select>
      </td>
      <td>
        <select aria-label={t("field.class")} value={r.class} onChange={(e) => set({ class: (e.currentTarget as HTMLSelectElement).value })}>
          {quotaClasses.map((c) => (
            <option key={c} value={c}>
              {tWord("class", c)}
            </option>
          ))}
        </select>
        {r.class === "analyzer" && (
          <select aria-label={t("field.analyte")} value={r.analyte} onChange={(e) => set({ analyte: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">{t("quotas.any_analyte")}</option>
            {analytes.map((a) => (
              <option key={a} value={a}>
                {tWord("analyte", a)}
              </option>
            ))}
          </select>
        )}
      </td>
      <td class="num">
        <input class="num-input" inputMode="numeric" aria-label={t("quotas.min_ready")} value={r.min_ready} aria-invalid={error ? true : undefined} onInput={(e) => set({ min_ready: (e.currentTarget as HTMLInputElement).value })} />
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
      </td>
      <td>
        <button type="button" class="link-button small" onClick={onRemove}>
          {t("rules.remove")}
        </button>
      </td>
    </tr>
  );
}

export default function QuotasPage() {
  const [rows, setRows] = useState<QuotaDraft[] | null>(null);
  const [errors, setErrors] = useState<Record<number, string>>({});
  const [failure, setFailure] = useState<Plain | null>(null);
  const [saved, setSaved] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const load = () =>
    api
      .quotas()
      .then((l) => setRows(l.map(toDraft)))
      .catch((e) => setFailure(describeError(e)));
  useEffect(() => {
    void load();
  }, []);
  const set = (i: number) => (p: Partial<QuotaDraft>) => {
    setSaved(null);
    setRows((r) => (r ?? []).map((x, j) => (j === i ? { ...x, ...p } : x)));
  };
  const save = async (e: Event) => {
    e.preventDefault();
    if (!rows) return;
    const out = checkQuotas(rows);
    setErrors(out.errors);
    setFailure(null);
    if (!out.items) return;
    setBusy(true);
    try {
      await api.putQuotas(out.items);
      setSaved(out.items.length);
      void load();
    } catch (err) {
      if (err instanceof ApiError && err.code === "unauthorized") return;
      setFailure(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const exportCsv = () =>
    download(`quotas-${dayOf(Date.now())}.csv`, toCsv(["city", "class", "analyte", "min_ready"], (rows ?? []).map((r) => [r.city, r.class, r.analyte, r.min_ready])));
  const total = (rows ?? []).reduce((n, r) => n + (Number(r.min_ready) || 0), 0);
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.quotas")}</h1>
      </div>
      <div class="two-col">
        <form class="card" onSubmit={save} noValidate aria-labelledby="quota-table">
          <h2 id="quota-table">
            {t("quotas.table", { n: rows?.length ?? 0, units: formatNumber(total) })}
            <button type="button" class="secondary small" onClick={exportCsv} disabled={!rows}>
              {t("util.export")}
            </button>
          </h2>
          {!rows && !failure && <Loading />}
          {rows && (
            <>
              <div class="table-wrap">
                <table class="data-table" data-testid="quota-table">
                  <thead>
                    <tr>
                      <th scope="col">{t("field.city")}</th>
                      <th scope="col">{t("field.class")}</th>
                      <th scope="col" class="num">{t("quotas.min_ready")}</th>
                      <th scope="col">{t("word.action")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r, i) => (
                      <Row key={i} r={r} set={set(i)} error={errors[i]} onRemove={() => setRows(rows.filter((_, j) => j !== i))} />
                    ))}
                  </tbody>
                </table>
              </div>
              {rows.length === 0 && <p class="quiet-note">{t("quotas.none")}</p>}
              <div class="form-actions">
                <button type="button" class="secondary" onClick={() => setRows([...rows, { city: regionCities[0].code, class: "body_camera", analyte: "", min_ready: "1" }])}>
                  {t("quotas.add_row")}
                </button>
                <button type="submit" class="primary" disabled={busy}>
                  {t("quotas.save")}
                </button>
              </div>
              {saved !== null && <Notice kind="ok">{t("quotas.saved", { n: saved })}</Notice>}
            </>
          )}
          {failure && (
            <Notice kind="error">
              <ProblemText problem={failure} />
            </Notice>
          )}
        </form>
        <Import onImported={() => void load()} />
      </div>
      <p class="hint">{t("quotas.explain", { classes: quotaClasses.map((c) => className(c)).join("、") })}</p>
    </div>
  );
}
