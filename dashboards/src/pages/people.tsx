// People and badges, for the admin: the list (filter by name, role, city), a person added with
// a role, home city and badge, edited, deactivated (their badge is withdrawn from the gateways
// and their sessions end), and a password reset that shows a one-time password once.
import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError } from "../api";
import { Field, Loading, Notice, ProblemText } from "../components";
import { useDraft } from "../drafts";
import { SelectField, textProblem, type Errors } from "../forms";
import { t, tWord } from "../i18n";
import { idPattern } from "../model";
import { api, type Person } from "../planning";
import { describeError, type Plain } from "../problems";
import { cityName, regionCities } from "../region";
import { roles, type Role } from "../session";

const maxNameChars = 128;
const cityRoles: readonly Role[] = ["officer", "custodian"];

export interface PersonDraft {
  name: string;
  role: Role;
  city: string;
  badge: string;
}

type PersonField = keyof PersonDraft;

/** The rules of a person record (libs/domain people.hpp), in the user's words. */
export function checkPerson(d: PersonDraft): Errors<PersonField> {
  const e: Errors<PersonField> = {};
  const name = textProblem(t("field.name"), d.name, maxNameChars);
  if (name) e.name = name;
  if (!roles.includes(d.role)) e.role = t("rule.required_field", { field: t("field.role") });
  if (cityRoles.includes(d.role) && !d.city) e.city = t("rule.city_for_role", { role: tWord("role", d.role) });
  if (d.badge.trim() && !idPattern.test(d.badge.trim())) e.badge = t("rule.id_field", { field: t("field.badge") });
  return e;
}

function personBody(d: PersonDraft): Record<string, unknown> {
  return { name: d.name.trim(), role: d.role, city: d.city || null, badge: d.badge.trim() || null };
}

const roleOptions = () => roles.map((r) => [r, tWord("role", r)] as const);
const cityOptions = () => [["", t("people.no_city")] as const, ...regionCities.map((c) => [c.code, cityName(c.code)] as const)];

function PersonForm({ initial, draftKey, submitLabel, onSaved, save, onCancel }: {
  initial: PersonDraft;
  draftKey: string;
  submitLabel: string;
  save: (body: Record<string, unknown>) => Promise<Person & { one_time_password?: string }>;
  onSaved: (p: Person, password?: string) => void;
  onCancel?: () => void;
}) {
  const [form, setForm, clear] = useDraft<PersonDraft>(draftKey, initial);
  const [errors, setErrors] = useState<Errors<PersonField>>({});
  const [failure, setFailure] = useState<Plain | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<PersonDraft>) => setForm((f) => ({ ...f, ...patch }));
  const submit = async (e: Event) => {
    e.preventDefault();
    const found = checkPerson(form);
    setErrors(found);
    setFailure(null);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const p = await save(personBody(form));
      clear();
      onSaved(p, p.one_time_password);
    } catch (err) {
      if (err instanceof ApiError && err.code === "unauthorized") return;
      setFailure(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const prefix = draftKey.replace(/[^a-z0-9-]/gi, "-");
  return (
    <form class="form-grid" onSubmit={submit} noValidate>
      <Field id={`${prefix}-name`} label={t("field.name")} value={form.name} onInput={(v) => set({ name: v })} error={errors.name} />
      <SelectField id={`${prefix}-role`} label={t("field.role")} value={form.role} options={roleOptions()} onChange={(v) => set({ role: v as Role })} error={errors.role} />
      <SelectField id={`${prefix}-city`} label={t("field.city")} value={form.city} options={cityOptions()} onChange={(v) => set({ city: v })} error={errors.city} hint={t("people.city_hint")} />
      <Field id={`${prefix}-badge`} label={t("field.badge")} value={form.badge} onInput={(v) => set({ badge: v })} error={errors.badge} hint={t("people.badge_hint")} />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" class="secondary" onClick={onCancel}>
            {t("people.cancel_edit")}
          </button>
        )}
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
    </form>
  );
}

function OneTimePassword({ name, password }: { name: string; password: string }) {
  return (
    <Notice kind="ok">
      <p>{t("people.one_time", { name })}</p>
      <p class="one-time mono" data-testid="one-time-password">
        {password}
      </p>
      <p class="hint">{t("people.one_time_hint")}</p>
    </Notice>
  );
}

function PersonRow({ p, onChanged, onPassword }: { p: Person; onChanged: (p: Person) => void; onPassword: (name: string, pw: string) => void }) {
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = p.active !== false;
  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(describeError(e).reason);
    } finally {
      setBusy(false);
    }
  };
  const toggle = () =>
    run(async () => {
      if (active && !window.confirm(t("people.deactivate_confirm", { name: p.name }))) return;
      const answer = await api.editPerson(p.id, { active: !active });
      onChanged(answer?.id ? answer : { ...p, active: !active });
    });
  const reset = () =>
    run(async () => {
      if (!window.confirm(t("people.reset_confirm", { name: p.name }))) return;
      const answer = await api.resetPassword(p.id);
      const pw = answer.one_time_password;
      if (pw) onPassword(p.name, pw);
    });
  return (
    <tr data-person={p.id} class={active ? undefined : "is-inactive"}>
      <td>
        {p.name}
        {!active && <span class="status status-retired"> {t("people.inactive")}</span>}
      </td>
      <td>{tWord("role", p.role)}</td>
      <td>{p.city ? cityName(p.city) : "—"}</td>
      <td class="mono">{p.badge ?? "—"}</td>
      <td>
        {editing ? (
          <PersonForm
            initial={{ name: p.name, role: p.role, city: p.city ?? "", badge: p.badge ?? "" }}
            draftKey={`person-${p.id}`}
            submitLabel={t("people.save")}
            save={(body) => api.editPerson(p.id, body)}
            onSaved={(saved) => {
              setEditing(false);
              onChanged(saved?.id ? saved : p);
            }}
            onCancel={() => setEditing(false)}
          />
        ) : (
          <div class="alert-actions">
            <button type="button" class="secondary small" disabled={busy} onClick={() => setEditing(true)}>
              {t("people.edit")}
            </button>
            <button type="button" class="secondary small" disabled={busy} onClick={reset}>
              {t("people.reset")}
            </button>
            <button type="button" class="secondary small" disabled={busy} onClick={toggle}>
              {active ? t("people.deactivate") : t("people.reactivate")}
            </button>
          </div>
        )}
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

export default function PeoplePage() {
  const [people, setPeople] = useState<Person[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  const [text, setText] = useState("");
  const [password, setPassword] = useState<{ name: string; pw: string } | null>(null);
  const load = () =>
    api
      .people()
      .then((l) => {
        setPeople(l.sort((a, b) => a.name.localeCompare(b.name)));
        setFailure(null);
      })
      .catch((e) => setFailure(describeError(e)));
  useEffect(() => {
    void load();
  }, []);
  const shown = useMemo(() => {
    const q = text.trim().toLowerCase();
    return (people ?? []).filter((p) => !q || p.name.toLowerCase().includes(q) || (p.badge ?? "").toLowerCase().includes(q));
  }, [people, text]);
  const replace = (p: Person) => setPeople((l) => (l ?? []).map((x) => (x.id === p.id ? p : x)));
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.people")}</h1>
      </div>
      <section class="card" aria-labelledby="add-person">
        <h2 id="add-person">{t("people.add_title")}</h2>
        <PersonForm
          initial={{ name: "", role: "officer", city: regionCities[0].code, badge: "" }}
          draftKey="add-person"
          submitLabel={t("people.add")}
          save={(body) => api.addPerson(body)}
          onSaved={(p, pw) => {
            void load();
            if (pw) setPassword({ name: p.name, pw });
          }}
        />
      </section>
      {password && <OneTimePassword name={password.name} password={password.pw} />}
      <section class="card">
        <form class="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
          <label>
            {t("people.search")}
            <input type="search" value={text} onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} />
          </label>
        </form>
        {failure && (
          <Notice kind="error">
            <ProblemText problem={failure} />
          </Notice>
        )}
        {!people && !failure && <Loading />}
        {people && (
          <div class="table-wrap">
            <table class="data-table wide-table" data-testid="people-table">
              <caption>{t("people.count", { n: shown.length })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("field.name")}</th>
                  <th scope="col">{t("field.role")}</th>
                  <th scope="col">{t("field.city")}</th>
                  <th scope="col">{t("field.badge")}</th>
                  <th scope="col">{t("word.action")}</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((p) => (
                  <PersonRow key={p.id} p={p} onChanged={replace} onPassword={(name, pw) => setPassword({ name, pw })} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
