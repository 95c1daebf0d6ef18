// The registry: every device with its state, filtered by city, class and status. An admin adds
// one device (POST /devices) or imports a CSV file (POST /devices/import) and sees which rows
// were refused and why; nothing is imported while a row is wrong.
import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, call, listAll } from "../api";
import { Field, Loading, Notice, ProblemText, StatusWord } from "../components";
import { useDraft } from "../drafts";
import { formatNumber, t, tWord } from "../i18n";
import { batteryOf, deviceClasses, idPattern, type Device } from "../model";
import { describeError, fieldName, ruleWords, type Plain } from "../problems";
import { cityName, regionCities } from "../region";
import { deviceHref } from "../router";
import { session } from "../session";

const statuses = ["available", "checked_out", "in_transit", "maintenance", "lost", "retired"];
/** Rows drawn at once; the filters narrow a large registry down. */
const shownRows = 300;
const maxModelChars = 128;

interface NewDevice {
  id: string;
  class: string;
  model: string;
  city: string;
}

function AddDevice({ onAdded }: { onAdded: (d: Device) => void }) {
  const [form, setForm, clear] = useDraft<NewDevice>("add-device", { id: "", class: "body_camera", model: "", city: regionCities[0].code });
  const [errors, setErrors] = useState<Partial<Record<keyof NewDevice, string>>>({});
  const [result, setResult] = useState<{ kind: "ok" | "error"; plain: Plain } | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const found: typeof errors = {};
    if (!idPattern.test(form.id.trim())) found.id = t("rule.id_field", { field: t("field.id") });
    if (!form.model.trim()) found.model = t("rule.required_field", { field: t("field.model") });
    else if (form.model.trim().length > maxModelChars) found.model = t("rule.max_chars_field", { field: t("field.model"), n: maxModelChars });
    setErrors(found);
    setResult(null);
    if (Object.keys(found).length > 0) return;
    try {
      const d = await call<Device>("POST", "api/v1/devices", {
        body: { id: form.id.trim(), class: form.class, model: form.model.trim(), city: form.city },
      });
      setResult({ kind: "ok", plain: { reason: t("devices.added", { id: d.id }) } });
      clear();
      onAdded(d);
    } catch (err) {
      if (err instanceof ApiError && err.code === "unauthorized") return;
      const plain = describeError(err);
      setResult({ kind: "error", plain });
    }
  };
  const select = (id: keyof NewDevice, label: string, options: [string, string][]) => (
    <div class="field">
      <label for={`new-${id}`}>{label}</label>
      <select id={`new-${id}`} value={form[id]} onChange={(e) => setForm({ ...form, [id]: (e.currentTarget as HTMLSelectElement).value })}>
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );
  return (
    <form class="card form-grid" onSubmit={submit} noValidate aria-labelledby="add-heading">
      <h2 id="add-heading">{t("devices.add_title")}</h2>
      <Field id="new-id" label={t("field.id")} value={form.id} onInput={(v) => setForm({ ...form, id: v })} error={errors.id} hint={t("devices.id_hint")} />
      {select("class", t("field.class"), deviceClasses.map((c) => [c, tWord("class", c)]))}
      <Field id="new-model" label={t("field.model")} value={form.model} onInput={(v) => setForm({ ...form, model: v })} error={errors.model} />
      {select("city", t("field.city"), regionCities.map((c) => [c.code, cityName(c.code)]))}
      <div class="form-actions">
        <button type="submit" class="primary">
          {t("devices.add")}
        </button>
      </div>
      {result && (
        <Notice kind={result.kind === "ok" ? "ok" : "error"}>
          <ProblemText problem={result.plain} />
        </Notice>
      )}
    </form>
  );
}

interface RowError {
  line: number;
  id?: string;
  field: string;
  message: string;
}

function ImportDevices({ onImported }: { onImported: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok?: number; problem?: Plain; rows?: RowError[] } | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) {
      setOutcome({ problem: { reason: t("devices.import_choose") } });
      return;
    }
    setBusy(true);
    setOutcome(null);
    try {
      const text = await file.text();
      const answer = await call<{ imported?: number }>("POST", "api/v1/devices/import", { raw: { text, contentType: "text/csv" } });
      setOutcome({ ok: answer?.imported ?? 0 });
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
    <form class="card" onSubmit={submit} aria-labelledby="import-heading">
      <h2 id="import-heading">{t("devices.import_title")}</h2>
      <p class="hint">{t("devices.import_hint")}</p>
      <div class="field">
        <span class="field-label" id="import-file-label">
          {t("devices.import_file")}
        </span>
        {/* The browser's own file button speaks the browser's language: ours speaks the user's. */}
        <div class="file-pick">
          <input
            id="import-file"
            class="visually-hidden"
            type="file"
            accept=".csv,text/csv"
            aria-labelledby="import-file-label import-file-button"
            onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)}
          />
          <label for="import-file" class="button-like" id="import-file-button">
            {t("devices.choose_file")}
          </label>
          <span class="quiet">{file ? file.name : t("devices.no_file")}</span>
        </div>
      </div>
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t("devices.importing") : t("devices.import")}
      </button>
      {outcome?.ok !== undefined && <Notice kind="ok">{t("devices.imported", { n: outcome.ok })}</Notice>}
      {outcome?.problem && (
        <Notice kind="error">
          <ProblemText problem={outcome.problem} />
        </Notice>
      )}
      {outcome?.rows && outcome.rows.length > 0 && (
        <div class="table-wrap">
          <table class="data-table" data-testid="import-report">
            <caption>{t("devices.import_report", { n: outcome.rows.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t("devices.line")}</th>
                <th scope="col">{t("field.id")}</th>
                <th scope="col">{t("devices.column")}</th>
                <th scope="col">{t("devices.why")}</th>
              </tr>
            </thead>
            <tbody>
              {outcome.rows.map((r, i) => (
                <tr key={i}>
                  <td class="num">{r.line}</td>
                  <td class="mono">{r.id ?? ""}</td>
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

interface Filter {
  city: string;
  class: string;
  status: string;
  text: string;
}

function matches(d: Device, f: Filter, text: string): boolean {
  return (
    (!f.city || d.city === f.city) &&
    (!f.class || d.class === f.class) &&
    (!f.status || d.status === f.status) &&
    (!text || d.id.toLowerCase().includes(text) || (d.model ?? "").toLowerCase().includes(text))
  );
}

function Filters({ filter, setFilter }: { filter: Filter; setFilter: (f: Filter) => void }) {
  const pick = (key: keyof Filter) => (e: Event) => setFilter({ ...filter, [key]: (e.currentTarget as HTMLSelectElement).value });
  return (
    <form class="toolbar" onSubmit={(e) => e.preventDefault()} role="search">
      <label>
        {t("word.city")}
        <select value={filter.city} onChange={pick("city")}>
          <option value="">{t("word.all_cities")}</option>
          {regionCities.map((c) => (
            <option key={c.code} value={c.code}>
              {cityName(c.code)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("word.class")}
        <select value={filter.class} onChange={pick("class")}>
          <option value="">{t("word.all_classes")}</option>
          {deviceClasses.map((c) => (
            <option key={c} value={c}>
              {tWord("class", c)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("word.status")}
        <select value={filter.status} onChange={pick("status")}>
          <option value="">{t("word.all_statuses")}</option>
          {statuses.map((s) => (
            <option key={s} value={s}>
              {tWord("status", s)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("devices.search")}
        <input type="search" value={filter.text} onInput={(e) => setFilter({ ...filter, text: (e.currentTarget as HTMLInputElement).value })} />
      </label>
    </form>
  );
}

function DeviceTable({ shown }: { shown: Device[] }) {
  return (
    <div class="table-wrap">
      <table class="data-table wide-table" data-testid="device-table">
        <thead>
          <tr>
            <th scope="col">{t("field.id")}</th>
            <th scope="col">{t("field.class")}</th>
            <th scope="col">{t("field.model")}</th>
            <th scope="col">{t("word.city")}</th>
            <th scope="col">{t("word.status")}</th>
            <th scope="col">{t("word.holder")}</th>
            <th scope="col" class="num">{t("word.battery")}</th>
            <th scope="col">{t("word.readiness")}</th>
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, shownRows).map((d) => {
            const pct = batteryOf(d);
            return (
              <tr key={d.id} data-device={d.id}>
                <td>
                  <a class="mono nowrap" href={deviceHref(d.id)}>
                    {d.id}
                  </a>
                </td>
                <td>{d.class ? tWord("class", d.class) : "—"}</td>
                <td class="model-cell">{d.model ?? "—"}</td>
                <td>{cityName(d.city)}</td>
                <td>
                  <StatusWord status={d.status} />
                </td>
                <td>{d.holder ?? "—"}</td>
                <td class="num">{pct === undefined ? "—" : `${Math.round(pct)}%`}</td>
                <td>{d.readiness ? (d.readiness.ready ? t("word.ready_yes") : t("word.ready_no")) : "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export default function DevicesPage() {
  const isAdmin = session.value?.role === "admin";
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  const [filter, setFilter] = useState<Filter>({ city: "", class: "", status: "", text: "" });
  const load = () =>
    listAll<Device>("api/v1/devices")
      .then((list) => {
        setDevices(list.sort((a, b) => a.id.localeCompare(b.id)));
        setFailure(null);
      })
      .catch((e) => setFailure(describeError(e)));
  useEffect(() => {
    void load();
  }, []);
  const shown = useMemo(() => {
    const text = filter.text.trim().toLowerCase();
    return (devices ?? []).filter((d) => matches(d, filter, text));
  }, [devices, filter]);

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.devices")}</h1>
      </div>
      {isAdmin && (
        <div class="two-col">
          <AddDevice onAdded={() => void load()} />
          <ImportDevices onImported={() => void load()} />
        </div>
      )}
      <section class="card">
        <Filters filter={filter} setFilter={setFilter} />
        {failure && (
          <Notice kind="error">
            <ProblemText problem={failure} />
          </Notice>
        )}
        {!devices && !failure && <Loading />}
        {devices && (
          <>
            <p class="quiet-note">
              {shown.length > shownRows
                ? t("devices.count_first", { n: formatNumber(shown.length), shown: shownRows })
                : t("devices.count", { n: formatNumber(shown.length) })}
            </p>
            <DeviceTable shown={shown} />
          </>
        )}
      </section>
    </div>
  );
}
