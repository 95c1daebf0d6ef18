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
import { begin, sessionExpired, sessionFrom, takeReturnPlace } from "./session";

const lastUserKey = "eqm.last_user";

export function Login() {
  const [name, setName] = useState(() => sessionStorage.getItem(lastUserKey) ?? "");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<{ name?: string; password?: string }>({});
  const [failure, setFailure] = useState<Plain | null>(null);
  const [busy, setBusy] = useState(false);
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
      if (sessionStorage.getItem(lastUserKey) !== s.name) clearDrafts();
      sessionStorage.setItem(lastUserKey, s.name);
      begin(s);
      navigate(takeReturnPlace() ?? startOf(s), true);
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
