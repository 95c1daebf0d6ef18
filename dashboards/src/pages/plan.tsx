// The dispatcher's allocation plan: the server builds it from the live registry, bookings and
// quotas; the page shows each move as an arrow on the map (count and ETA) and in a table, with
// the demand left unmet, and approves all of it or the ticked moves, which creates transfers.
import { useEffect, useMemo, useState } from "preact/hooks";
import { Notice, ProblemText } from "../components";
import { formatNumber, t, tWord } from "../i18n";
import { formatSpan } from "../i18n/time";
import { api, className, routes, type Plan, type PlanMove, type Transfer } from "../planning";
import { describeError, type Plain } from "../problems";
import { cityName } from "../region";
import { RegionMap } from "../region-map";
import { RegionStore } from "../region-store";

function MovesTable({ moves, chosen, setChosen, locked }: { moves: PlanMove[]; chosen: Set<number>; setChosen: (s: Set<number>) => void; locked: boolean }) {
  const toggle = (i: number) => {
    const next = new Set(chosen);
    if (next.has(i)) next.delete(i);
    else next.add(i);
    setChosen(next);
  };
  return (
    <div class="table-wrap">
      <table class="data-table" data-testid="plan-moves">
        <caption>{t("plan.moves", { n: moves.length })}</caption>
        <thead>
          <tr>
            <th scope="col">{t("plan.take")}</th>
            <th scope="col">{t("plan.from")}</th>
            <th scope="col">{t("plan.to")}</th>
            <th scope="col">{t("field.class")}</th>
            <th scope="col" class="num">{t("plan.count")}</th>
            <th scope="col" class="num">{t("plan.eta")}</th>
          </tr>
        </thead>
        <tbody>
          {moves.map((m, i) => (
            <tr key={i}>
              <td>
                <input
                  type="checkbox"
                  id={`move-${i}`}
                  checked={chosen.has(i)}
                  disabled={locked}
                  aria-label={t("plan.move_label", { from: cityName(m.from), to: cityName(m.to), count: m.count, class: className(m.class) })}
                  onChange={() => toggle(i)}
                />
              </td>
              <td class="nowrap">{cityName(m.from)}</td>
              <td class="nowrap">{cityName(m.to)}</td>
              <td>{className(m.class)}</td>
              <td class="num strong">{m.count}</td>
              <td class="num nowrap">{formatSpan(m.eta_minutes * 60_000)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Unmet({ plan }: { plan: Plan }) {
  if (plan.unmet.length === 0) return <p class="quiet-note">{t("plan.all_met")}</p>;
  return (
    <div class="table-wrap">
      <table class="data-table" data-testid="plan-unmet">
        <caption>{t("plan.unmet")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("word.city")}</th>
            <th scope="col">{t("field.class")}</th>
            <th scope="col">{t("plan.kind")}</th>
            <th scope="col" class="num">{t("plan.count")}</th>
          </tr>
        </thead>
        <tbody>
          {plan.unmet.map((u, i) => (
            <tr key={i}>
              <td>{cityName(u.city)}</td>
              <td>{className(u.class)}</td>
              <td>{tWord("demand", u.kind)}</td>
              <td class="num">{u.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Approved({ transfers }: { transfers: Transfer[] }) {
  return (
    <Notice kind="ok">
      <p class="problem-reason" data-testid="plan-approved">
        {t("plan.approved", { n: transfers.length })}
      </p>
      <p>
        {transfers.map((tr) => tr.id).join("、")} · <a href="#/transfers">{t("plan.see_transfers")}</a>
      </p>
    </Notice>
  );
}

export default function PlanPage() {
  const store = useMemo(() => new RegionStore(undefined, false), []);
  const [plan, setPlan] = useState<Plan | null>(null);
  const [chosen, setChosen] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState<"plan" | "approve" | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  const [created, setCreated] = useState<Transfer[] | null>(null);
  useEffect(() => {
    void store.load();
    void store.loadGaps().catch(() => undefined);
  }, [store]);

  const run = async () => {
    setBusy("plan");
    setFailure(null);
    setCreated(null);
    try {
      const p = await api.plan();
      setPlan(p);
      setChosen(new Set(p.moves.map((_, i) => i)));
    } catch (e) {
      setFailure(describeError(e));
    } finally {
      setBusy(null);
    }
  };
  const approve = async (all: boolean) => {
    if (!plan?.id) return;
    setBusy("approve");
    setFailure(null);
    try {
      const indexes = all ? undefined : [...chosen].sort((a, b) => a - b);
      const answer = await api.approvePlan(plan.id, indexes);
      setCreated(answer.transfers ?? []);
      void store.loadGaps().catch(() => undefined);
    } catch (e) {
      setFailure(describeError(e));
    } finally {
      setBusy(null);
    }
  };
  const shown = plan ? plan.moves.filter((_, i) => chosen.has(i)) : [];
  const units = shown.reduce((n, m) => n + m.count, 0);
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.plan")}</h1>
        <button type="button" class="primary" disabled={busy !== null} onClick={run}>
          {busy === "plan" ? t("plan.running") : plan ? t("plan.run_again") : t("plan.run")}
        </button>
      </div>
      <p class="hint">{t("plan.explain")}</p>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      <div class="region-grid">
        <section class="card map-card" aria-label={t("map.title")}>
          <RegionMap stats={store.stats.value} cities={store.cities.value} gaps={store.gaps.value} moves={routes(shown)} />
          <p class="map-legend">{t("plan.legend")}</p>
        </section>
        <section class="card" aria-labelledby="plan-heading">
          <h2 id="plan-heading">{t("plan.title")}</h2>
          {!plan && <p class="quiet-note">{t("plan.none_yet")}</p>}
          {plan && (
            <>
              <p class="plan-summary">
                {t("plan.summary", { moves: plan.moves.length, units: plan.moves.reduce((n, m) => n + m.count, 0), cost: formatNumber(Math.round(plan.total_cost)) })}
              </p>
              {plan.moves.length === 0 ? (
                <p class="quiet-note">{t("plan.no_moves")}</p>
              ) : (
                <>
                  <MovesTable moves={plan.moves} chosen={chosen} setChosen={setChosen} locked={created !== null} />
                  {created === null && (
                    <div class="form-actions">
                      <button type="button" class="primary" disabled={busy !== null || !plan.id} onClick={() => approve(true)}>
                        {busy === "approve" ? t("plan.approving") : t("plan.approve_all")}
                      </button>
                      <button type="button" class="secondary" disabled={busy !== null || !plan.id || chosen.size === 0 || chosen.size === plan.moves.length} onClick={() => approve(false)}>
                        {t("plan.approve_some", { n: chosen.size, units })}
                      </button>
                    </div>
                  )}
                </>
              )}
              {created && <Approved transfers={created} />}
              <Unmet plan={plan} />
            </>
          )}
        </section>
      </div>
    </div>
  );
}
