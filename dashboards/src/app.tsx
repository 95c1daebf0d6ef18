// The frame of every page: header with the role's navigation, the banners (connection lost,
// gateway offline), and the page for the current address, loaded on first visit.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { linkLost } from "./connectivity";
import { host } from "./host";
import { lang, setLang, t } from "./i18n";
import { Login } from "./login";
import { findPage, navPages, startOf } from "./navigation";
import type { PageDef, PageProps } from "./pages";
import { current, navigate } from "./router";
import { cityName } from "./region";
import { end, session, type Session } from "./session";

const loaded = new Map<PageDef, ComponentType<PageProps>>();

function LazyPage({ def, params }: { def: PageDef; params: Record<string, string> }) {
  const [page, setPage] = useState<ComponentType<PageProps> | null>(() => loaded.get(def) ?? null);
  const [slow, setSlow] = useState(false);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (loaded.has(def)) {
      setPage(() => loaded.get(def)!);
      return undefined;
    }
    setPage(null);
    setFailed(false);
    let live = true;
    const timer = window.setTimeout(() => setSlow(true), 300);
    def
      .load()
      .then((m) => {
        loaded.set(def, m.default);
        if (live) setPage(() => m.default);
      })
      .catch(() => live && setFailed(true))
      .finally(() => window.clearTimeout(timer));
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [def]);
  if (failed) return <p class="quiet-note" role="alert">{t("app.page_failed")}</p>;
  if (!page) return slow ? <p class="quiet-note">{t("app.loading_page")}</p> : null;
  const Page = page;
  return <Page params={params} />;
}

function Banners() {
  // A blip shorter than a second is not worth a banner.
  const lost = linkLost.value;
  const [show, setShow] = useState(false);
  useEffect(() => {
    if (!lost) {
      setShow(false);
      return undefined;
    }
    const timer = window.setTimeout(() => setShow(true), 800);
    return () => window.clearTimeout(timer);
  }, [lost]);
  const h = host.value;
  return (
    <div class="banners">
      {h?.kind === "gateway" && !h.centralOnline && (
        <div class="banner banner-offline" role="status" data-testid="offline-banner">
          <strong>{t("banner.offline_title")}</strong> — {t("banner.offline_body")}
        </div>
      )}
      {show && (
        <div class="banner banner-lost" role="alert" data-testid="connection-banner">
          {t("banner.connection_lost")}
        </div>
      )}
    </div>
  );
}

function LanguageSwitch() {
  const next = lang.value === "zh-CN" ? "en" : "zh-CN";
  return (
    <button type="button" class="link-button" lang={next} onClick={() => setLang(next)}>
      {next === "en" ? "English" : "中文"}
    </button>
  );
}

function Header({ s, path }: { s: Session; path: string }) {
  const h = host.value;
  const nav = navPages(s);
  const where = h?.kind === "gateway" ? cityName(h.city) : s.city ? cityName(s.city) : t("word.region");
  return (
    <header class="app-header">
      <div class="brand">
        <span class="brand-name">{t("app.name")}</span>
        <span class="brand-where">{where}</span>
      </div>
      <nav aria-label={t("app.nav")}>
        {nav.map((p) => (
          <a key={p.path} href={`#${p.path}`} aria-current={path === p.path ? "page" : undefined}>
            {t(p.title)}
          </a>
        ))}
      </nav>
      <div class="who">
        <span class="who-name">
          {s.name} · {t(`role.${s.role}`)}
        </span>
        <LanguageSwitch />
        <button type="button" class="link-button" onClick={end}>
          {t("app.sign_out")}
        </button>
      </div>
    </header>
  );
}

export function App() {
  const h = host.value;
  const s = session.value;
  const loc = current.value;
  useEffect(() => {
    document.documentElement.lang = lang.value;
  }, [lang.value]);

  const found = s && loc.path !== "/login" ? findPage(loc.path, s) : null;
  useEffect(() => {
    if (!h) return;
    if (!s && loc.path !== "/login") navigate("/login", true);
    else if (s && !found) navigate(startOf(s), true);
  }, [h, s, loc.path, found]);
  useEffect(() => {
    document.title = `${found ? t(found.def.title) : t("login.title")} · ${t("app.name")}`;
  });

  if (!h) return <p class="quiet-note">{t("app.connecting")}</p>;
  if (!s)
    return (
      <>
        <Banners />
        <Login />
      </>
    );
  return (
    <div class="app">
      <Header s={s} path={found ? found.def.path : loc.path} />
      <Banners />
      <main id="main">{found && <LazyPage key={found.def.path} def={found.def} params={found.params} />}</main>
    </div>
  );
}
