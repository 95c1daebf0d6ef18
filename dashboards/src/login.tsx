// The login form: POST /api/v1/auth/login {name, password} -> {token, role, city, ...}.
// After an expired session it says so and, once signed in, goes back to the page that was open.
import { useState } from "preact/hooks";
import { call } from "./api";
import { Field, Notice, ProblemText } from "./components";
import { clearDrafts } from "./drafts";
import { host } from "./host";
import { startOf } from "./navigation";
import { lang, setLang, t } from "./i18n";
import { describeError, type Plain } from "./problems";
import { cityName } from "./region";
import { navigate } from "./router";
import { begin, sessionExpired, sessionFrom, takeReturnPlace, type Session } from "./session";

const lastUserKey = "eqm.last_user";
/** The password rule of the server (libs/domain people.hpp), in bytes of UTF-8. */
const minPasswordBytes = 8;
const maxPasswordBytes = 1024;

function enter(s: Session): void {
  if (sessionStorage.getItem(lastUserKey) !== s.name) clearDrafts();
  sessionStorage.setItem(lastUserKey, s.name);
  begin(s);
  navigate(takeReturnPlace() ?? startOf(s), true);
}

/** A login with a one-time password (new, or reset by an admin) chooses its own first. */
function NewPassword({ pending, current }: { pending: Session; current: string }) {
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [errors, setErrors] = useState<{ next?: string; again?: string }>({});
  const [failure, setFailure] = useState<Plain | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const found: typeof errors = {};
    const bytes = new TextEncoder().encode(next).length;
    if (bytes < minPasswordBytes || bytes > maxPasswordBytes) found.next = t("login.new_password_rule", { min: minPasswordBytes });
    else if (next === current) found.next = t("login.new_password_same");
    if (!found.next && again !== next) found.again = t("login.new_password_mismatch");
    setErrors(found);
    setFailure(null);
    if (found.next || found.again) return;
    setBusy(true);
    try {
      await call("POST", "api/v1/auth/password", { body: { password: current, new_password: next }, token: pending.token, auth: false });
      enter(pending);
    } catch (err) {
      setFailure(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login-card" onSubmit={submit} noValidate>
      <h1>{t("login.new_password_title")}</h1>
      <Notice kind="info">{t("login.new_password_why", { name: pending.name })}</Notice>
      <Field id="new-password" label={t("login.new_password")} type="password" value={next} onInput={setNext} error={errors.next} autoComplete="new-password" autoFocus hint={t("login.new_password_rule", { min: minPasswordBytes })} />
      <Field id="new-password-again" label={t("login.new_password_again")} type="password" value={again} onInput={setAgain} error={errors.again} autoComplete="new-password" />
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      <button type="submit" class="primary wide" disabled={busy}>
        {t("login.new_password_submit")}
      </button>
    </form>
  );
}

export function Login() {
  const [name, setName] = useState(() => sessionStorage.getItem(lastUserKey) ?? "");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<{ name?: string; password?: string }>({});
  const [failure, setFailure] = useState<Plain | null>(null);
  const [busy, setBusy] = useState(false);
  const [pending, setPending] = useState<Session | null>(null);
  const h = host.value;

  const submit = async (e: Event) => {
    e.preventDefault();
    const found: typeof errors = {};
    if (!name.trim()) found.name = t("login.name_required");
    if (!password) found.password = t("login.password_required");
    setErrors(found);
    setFailure(null);
    if (found.name || found.password) return;
    setBusy(true);
    try {
      const body = await call<unknown>("POST", "api/v1/auth/login", {
        body: { name: name.trim(), password },
        auth: false,
      });
      const s = sessionFrom(body, name.trim());
      if (!s) {
        setFailure({ reason: t("login.bad_answer") });
        return;
      }
      if ((body as { must_change_password?: unknown }).must_change_password === true) setPending(s);
      else enter(s);
    } catch (err) {
      const plain = describeError(err);
      setFailure(
        plain.reason === t("problem.unauthorized") ? { reason: t("login.wrong"), fix: t("login.wrong_fix") } : plain,
      );
    } finally {
      setBusy(false);
    }
  };

  const other = lang.value === "zh-CN" ? "en" : "zh-CN";
  if (pending)
    return (
      <main class="login-page" id="main">
        <NewPassword pending={pending} current={password} />
      </main>
    );
  return (
    <main class="login-page" id="main">
      <form class="login-card" onSubmit={submit} noValidate>
        <h1>{t("app.name")}</h1>
        <p class="login-where">
          {h?.kind === "gateway" ? t("login.at_gateway", { city: cityName(h.city) }) : t("login.at_server")}
        </p>
        {sessionExpired.value && <Notice kind="info">{t("login.expired")}</Notice>}
        <Field
          id="login-name"
          label={t("login.name")}
          value={name}
          onInput={setName}
          error={errors.name}
          autoComplete="username"
          autoFocus={!name}
        />
        <Field
          id="login-password"
          label={t("login.password")}
          type="password"
          value={password}
          onInput={setPassword}
          error={errors.password}
          autoComplete="current-password"
          autoFocus={!!name}
        />
        {failure && (
          <Notice kind="error">
            <ProblemText problem={failure} />
          </Notice>
        )}
        <button type="submit" class="primary wide" disabled={busy}>
          {busy ? t("login.signing_in") : t("login.submit")}
        </button>
        <p class="login-lang">
          <button type="button" class="link-button" lang={other} onClick={() => setLang(other)}>
            {other === "en" ? "English" : "中文"}
          </button>
        </p>
      </form>
    </main>
  );
}
