// The one way to put words on a page: t("key", {params}) reads the current language's catalog.
// Chinese (zh-CN) is the default; English is one click away and remembered in localStorage.
import { signal } from "@preact/signals";
import { zhCN, type MessageKey } from "./zh-CN";
import { en } from "./en";

export type { MessageKey };
export type Lang = "zh-CN" | "en";
export const languages: readonly Lang[] = ["zh-CN", "en"];

const catalogs: Record<Lang, Record<MessageKey, string>> = { "zh-CN": zhCN, en };
const storageKey = "eqm.lang";

function storedLang(): Lang {
  try {
    return globalThis.localStorage?.getItem(storageKey) === "en" ? "en" : "zh-CN";
  } catch {
    return "zh-CN";
  }
}

/** The language of every page; components that call t() re-render when it changes. */
export const lang = signal<Lang>(storedLang());

export function setLang(next: Lang): void {
  lang.value = next;
  try {
    globalThis.localStorage?.setItem(storageKey, next);
  } catch {
    // A browser without storage keeps the choice for this page only.
  }
  if (typeof document !== "undefined") document.documentElement.lang = next;
}

export type Params = Record<string, string | number>;

/** The message for `key` in the current language, with {name} placeholders filled in. */
export function t(key: MessageKey, params?: Params): string {
  const text = catalogs[lang.value][key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** True when `key` is a message of the catalogs (for keys built from API words). */
export function hasMessage(key: string): key is MessageKey {
  return key in zhCN;
}

/** t() for keys built from API words (an alert type, a status); `fallback` when unknown. */
export function tWord(prefix: string, word: string, fallback = word): string {
  const key = `${prefix}.${word}`;
  return hasMessage(key) ? t(key) : fallback;
}

/** 1,234 in either language. */
export function formatNumber(n: number): string {
  return new Intl.NumberFormat(lang.value).format(n);
}
