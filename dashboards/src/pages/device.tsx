// One device: what it is, where it is, whether it is ready, and its custody history (each
// record's hash checked by the server), with the notes written at check-in.
import { useEffect, useState } from "preact/hooks";
import { get, listAll } from "../api";
import { Loading, Notice, ProblemText, StatusWord } from "../components";
import { t, tWord } from "../i18n";
import { formatDate, formatDateTime } from "../i18n/time";
import { batteryOf, custodyEntry, type CustodyEntry, type Device } from "../model";
import type { PageProps } from "../pages";
import { describeError, describeProblem, type Plain } from "../problems";
import { cityName } from "../region";

function Facts({ d }: { d: Device }) {
  const pct = batteryOf(d);
  const rows: [string, preact.ComponentChildren][] = [
    [t("word.class"), d.class ? tWord("class", d.class) : "—"],
    [t("word.model"), d.model ?? "—"],
    [t("word.city"), cityName(d.city)],
    [t("word.status"), <StatusWord status={d.status} />],
    [t("word.holder"), d.holder ?? "—"],
  ];
  if (d.due) rows.push([t("word.due"), formatDateTime(d.due)]);
  if (pct !== undefined) rows.push([t("word.battery"), `${Math.round(pct)}%`]);
  if (d.calibration_due) rows.push([t("field.calibration_due"), formatDate(d.calibration_due)]);
  if (d.registration_id) rows.push([t("field.registration_id"), d.registration_id]);
  if (d.analyte) rows.push([t("field.analyte"), tWord("analyte", d.analyte)]);
  rows.push([t("word.last_seen"), formatDateTime(d.last_seen ?? null)]);
  return (
    <dl class="facts facts-wide">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function Readiness({ d }: { d: Device }) {
  const r = d.readiness;
  if (!r) return null;
  if (r.ready) return <Notice kind="ok">{t("device.ready")}</Notice>;
  return (
    <Notice kind="info">
      <p class="strong">{t("device.not_ready")}</p>
      <ul>
        {r.problems.map((p, i) => {
          const plain = describeProblem({ type: `urn:eqm:problem:${p.code}`, status: 409, detail: p.message }, { device: d });
          return <li key={i}>{plain.fix ? `${plain.reason} — ${plain.fix}` : plain.reason}</li>;
        })}
      </ul>
    </Notice>
  );
}

function History({ entries }: { entries: CustodyEntry[] }) {
  if (entries.length === 0) return <p class="quiet-note">{t("device.no_history")}</p>;
  return (
    <div class="table-wrap">
      <table class="data-table" data-testid="custody-history">
        <caption>{t("device.history")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("word.time")}</th>
            <th scope="col">{t("word.action")}</th>
            <th scope="col">{t("word.status")}</th>
            <th scope="col">{t("word.holder")}</th>
            <th scope="col">{t("word.condition")}</th>
            <th scope="col">{t("field.note")}</th>
            <th scope="col">{t("device.tamper_check")}</th>
          </tr>
        </thead>
        <tbody>
          {entries.map(({ record: r, verified }) => (
            <tr key={r.index}>
              <td class="nowrap">{formatDateTime(r.ts)}</td>
              <td>{tWord("action", r.action)}</td>
              <td class="nowrap">
                {tWord("status", r.from_state)} → {tWord("status", r.to_state)}
              </td>
              <td>{r.holder ?? "—"}</td>
              <td>{r.condition ? tWord("condition", r.condition) : "—"}</td>
              <td class="note-cell">{r.note ?? ""}</td>
              <td>{verified === undefined ? "—" : verified ? t("device.verified") : <strong class="text-danger">{t("device.broken")}</strong>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function DevicePage({ params }: PageProps) {
  const id = params.id;
  const [device, setDevice] = useState<Device | null>(null);
  const [history, setHistory] = useState<CustodyEntry[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  useEffect(() => {
    const path = `api/v1/devices/${encodeURIComponent(id)}`;
    Promise.all([get<Device>(path), listAll<unknown>(`${path}/custody`)])
      .then(([d, list]) => {
        setDevice(d);
        const entries = list.map(custodyEntry).filter((e): e is CustodyEntry => e !== null);
        entries.sort((a, b) => b.record.index - a.record.index);
        setHistory(entries);
      })
      .catch((e) => setFailure(describeError(e)));
  }, [id]);
  return (
    <div class="page device-page">
      <div class="page-head">
        <h1>
          {t("page.device")} <span class="mono">{id}</span>
        </h1>
        <button type="button" class="link-button" onClick={() => window.history.back()}>
          {t("app.back")}
        </button>
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      {!device && !failure && <Loading />}
      {device && (
        <>
          <section class="card">
            <Facts d={device} />
            <Readiness d={device} />
          </section>
          <section class="card">{history ? <History entries={history} /> : <Loading />}</section>
        </>
      )}
    </div>
  );
}
