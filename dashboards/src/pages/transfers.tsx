// Transfers between cities: the ones under way first (overdue at the top, in red and in words),
// each with approve (a request) and cancel (before hand-over); the finished ones below. Live
// from the feed's transfer messages.
import { useEffect, useState } from "preact/hooks";
import { Loading, Notice, ProblemText, StatusWord } from "../components";
import { useFeed } from "../feed";
import { t, tWord } from "../i18n";
import { formatDateTime, formatSpan, now } from "../i18n/time";
import { api, className, liveTransferStatuses, transferOrder, transferOverdue, type Transfer, type TransferItem } from "../planning";
import { describeError, oneLine, type Plain } from "../problems";
import { cityName } from "../region";
import { deviceHref } from "../router";

function Items({ items }: { items: TransferItem[] }) {
  return (
    <span>
      {items.map((it, i) => (
        <span key={i}>
          {i > 0 && "、"}
          {it.device_id ? (
            <a class="mono" href={deviceHref(it.device_id)}>
              {it.device_id}
            </a>
          ) : (
            `${className(it.class ?? "", it.analyte)} ×${it.count ?? 0}`
          )}
        </span>
      ))}
    </span>
  );
}

function Row({ tr, onChanged }: { tr: Transfer; onChanged: (tr: Transfer) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const overdue = transferOverdue(tr, now.value);
  const act = async (action: "approve" | "cancel") => {
    if (action === "cancel" && !window.confirm(t("transfers.cancel_confirm", { id: tr.id }))) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api.transferAction(tr.id, action);
      onChanged(answer?.id ? answer : { ...tr, status: action === "approve" ? "approved" : "cancelled" });
    } catch (e) {
      setError(oneLine(describeError(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-transfer={tr.id} class={overdue ? "is-overdue" : undefined}>
      <td class="mono nowrap">{tr.id}</td>
      <td>
        {cityName(tr.from_city)} → {cityName(tr.to_city)}
      </td>
      <td>
        <Items items={tr.items} />
        {tr.units && tr.units.some((u) => !tr.items.some((it) => it.device_id === u.device_id)) && (
          <p class="quiet">
            {tr.units.map((u, i) => (
              <span key={u.device_id}>
                {i > 0 && "、"}
                <a class="mono" href={deviceHref(u.device_id)}>
                  {u.device_id}
                </a>
                {u.state && ` (${tWord("unit_state", u.state)})`}
              </span>
            ))}
          </p>
        )}
        {tr.reason && <p class="quiet">{tr.reason}</p>}
      </td>
      <td>
        <StatusWord status={tr.status} />
        {overdue && tr.status !== "overdue" && <span class="overdue-word"> {t("transfers.overdue")}</span>}
      </td>
      <td class="nowrap">
        {formatDateTime(tr.due)}
        {overdue && <p class="overdue-word">{t("transfers.overdue_by", { span: formatSpan(now.value - Date.parse(tr.due)) })}</p>}
      </td>
      <td>
        <div class="alert-actions">
          {tr.status === "requested" && (
            <button type="button" class="primary small" disabled={busy} onClick={() => act("approve")}>
              {t("transfers.approve")}
            </button>
          )}
          {(tr.status === "requested" || tr.status === "approved") && (
            <button type="button" class="secondary small" disabled={busy} onClick={() => act("cancel")}>
              {t("transfers.cancel")}
            </button>
          )}
        </div>
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

function TransferTable({ list, caption, onChanged, testId }: { list: Transfer[]; caption: string; onChanged: (tr: Transfer) => void; testId: string }) {
  return (
    <div class="table-wrap">
      <table class="data-table wide-table" data-testid={testId}>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t("field.id")}</th>
            <th scope="col">{t("transfers.route")}</th>
            <th scope="col">{t("transfers.items")}</th>
            <th scope="col">{t("word.status")}</th>
            <th scope="col">{t("transfers.due")}</th>
            <th scope="col">{t("word.action")}</th>
          </tr>
        </thead>
        <tbody>
          {list.map((tr) => (
            <Row key={tr.id} tr={tr} onChanged={onChanged} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function TransfersPage() {
  const [list, setList] = useState<Transfer[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  const load = () =>
    api
      .transfers()
      .then((all) => {
        setList(all);
        setFailure(null);
      })
      .catch((e) => setFailure(describeError(e)));
  useEffect(() => {
    void load();
  }, []);
  const upsert = (tr: Transfer) => setList((l) => [...(l ?? []).filter((x) => x.id !== tr.id), tr]);
  useFeed({ onMessage: (m) => m.type === "transfer" && upsert(m.transfer), onResync: () => void load() });

  const order = transferOrder(now.value);
  const live = (list ?? []).filter((tr) => liveTransferStatuses.includes(tr.status)).sort(order);
  const done = (list ?? []).filter((tr) => !liveTransferStatuses.includes(tr.status)).sort((a, b) => b.due.localeCompare(a.due));
  const overdue = live.filter((tr) => transferOverdue(tr, now.value)).length;
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.transfers")}</h1>
        {overdue > 0 && <span class="overdue-count">{t("transfers.overdue_count", { n: overdue })}</span>}
        <a href="#/plan" class="button-like">
          {t("transfers.to_plan")}
        </a>
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      {!list && !failure && <Loading />}
      {list && (
        <>
          <section class="card">
            {live.length === 0 ? (
              <p class="quiet-note">{t("transfers.none_live")}</p>
            ) : (
              <TransferTable list={live} caption={t("transfers.live", { n: live.length })} onChanged={upsert} testId="transfers-live" />
            )}
          </section>
          {done.length > 0 && (
            <section class="card">
              <TransferTable list={done.slice(0, 100)} caption={t("transfers.done")} onChanged={upsert} testId="transfers-done" />
            </section>
          )}
        </>
      )}
    </div>
  );
}
