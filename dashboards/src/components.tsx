// Small pieces every page uses: a labelled field with its error, a refusal in plain words, the
// status and severity words, a relative time with the full time on hover.
import type { ComponentChildren, Ref } from "preact";
import { t, tWord } from "./i18n";
import { formatDateTime, formatRelative, now } from "./i18n/time";
import type { Plain } from "./problems";

export interface FieldProps {
  id: string;
  label: string;
  value: string;
  onInput: (v: string) => void;
  error?: string | null;
  hint?: string;
  type?: "text" | "password" | "search";
  autoComplete?: string;
  inputRef?: Ref<HTMLInputElement>;
  onKeyDown?: (e: KeyboardEvent) => void;
  large?: boolean;
  autoFocus?: boolean;
  inputMode?: "text" | "numeric";
}

/** An input with its label, hint and error (announced, and tied to the input). */
export function Field(p: FieldProps) {
  const describedBy = [p.hint ? `${p.id}-hint` : "", p.error ? `${p.id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div class={`field${p.large ? " field-large" : ""}${p.error ? " field-invalid" : ""}`}>
      <label for={p.id}>{p.label}</label>
      <input
        id={p.id}
        name={p.id}
        ref={p.inputRef}
        type={(p.type ?? "text") as "text"}
        value={p.value}
        autoComplete={p.autoComplete ?? "off"}
        autoFocus={p.autoFocus}
        inputMode={p.inputMode}
        spellcheck={false}
        aria-invalid={p.error ? true : undefined}
        aria-describedby={describedBy || undefined}
        onInput={(e) => p.onInput((e.currentTarget as HTMLInputElement).value)}
        onKeyDown={p.onKeyDown}
      />
      {p.hint && (
        <p class="hint" id={`${p.id}-hint`}>
          {p.hint}
        </p>
      )}
      {p.error && (
        <p class="field-error" id={`${p.id}-error`} role="alert">
          {p.error}
        </p>
      )}
    </div>
  );
}

/** A fix on a line of its own starts like a sentence ("Charge it ..."); Chinese is unchanged. */
export function sentence(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A refusal or failure: reason, and what would make it work. */
export function ProblemText({ problem }: { problem: Plain }) {
  return (
    <div class="problem-text">
      <p class="problem-reason">{problem.reason}</p>
      {problem.fix && <p class="problem-fix">{sentence(problem.fix)}</p>}
    </div>
  );
}

/** A small notice under a form or a list (a failed load, a refusal). */
export function Notice({ kind, children }: { kind: "error" | "ok" | "info"; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function StatusWord({ status }: { status: string }) {
  return <span class={`status status-${status}`}>{tWord("status", status)}</span>;
}

export function SeverityWord({ severity }: { severity: string }) {
  return <span class={`severity severity-${severity}`}>{tWord("severity", severity)}</span>;
}

/** "3 分钟前", with the full time on hover and for screen readers. */
export function When({ ts }: { ts: string | null | undefined }) {
  if (!ts) return <span>—</span>;
  const full = formatDateTime(ts);
  return (
    <time dateTime={ts} title={full}>
      {formatRelative(ts, now.value)}
    </time>
  );
}

/** A number that matters, big, with its word under it. */
export function BigNumber({ value, label, tone }: { value: number | string; label: string; tone?: string }) {
  return (
    <div class={`big-number${tone ? ` tone-${tone}` : ""}`}>
      <span class="big-number-value">{value}</span>
      <span class="big-number-label">{label}</span>
    </div>
  );
}

export function Loading() {
  return <p class="quiet-note">{t("app.loading")}</p>;
}
