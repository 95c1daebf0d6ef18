// What a person has typed into a form is kept in sessionStorage as they type, so an expired
// session (back to the login and back again) or a reload loses nothing. A form clears its draft
// once the server has taken what was sent.
import { useCallback, useState } from "preact/hooks";

const prefix = "eqm.draft.";

function read<T>(key: string, initial: T): T {
  try {
    const raw = sessionStorage.getItem(prefix + key);
    return raw === null ? initial : (JSON.parse(raw) as T);
  } catch {
    return initial;
  }
}

function store(key: string, v: unknown): void {
  try {
    sessionStorage.setItem(prefix + key, JSON.stringify(v));
  } catch {
    // storage full or off: the value still lives in the page
  }
}

export type DraftUpdate<T> = T | ((previous: T) => T);

/** useState that survives a trip to the login page: [value, set, clear]. */
export function useDraft<T>(key: string, initial: T): [T, (v: DraftUpdate<T>) => void, () => void] {
  const [value, setValue] = useState<T>(() => read(key, initial));
  const set = useCallback(
    (v: DraftUpdate<T>) =>
      setValue((previous) => {
        const next = typeof v === "function" ? (v as (p: T) => T)(previous) : v;
        store(key, next);
        return next;
      }),
    [key],
  );
  const clear = useCallback(() => {
    setValue(initial);
    sessionStorage.removeItem(prefix + key);
    // `initial` is a constant of the calling form: the key alone names the draft.
  }, [key]);
  return [value, set, clear];
}

/** Forgets every draft (a different person signed in). */
export function clearDrafts(): void {
  for (let i = sessionStorage.length - 1; i >= 0; i--) {
    const k = sessionStorage.key(i);
    if (k?.startsWith(prefix)) sessionStorage.removeItem(k);
  }
}
