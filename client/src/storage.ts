import { AuthMode, defaultEndpoint, Endpoint } from "./api";

// Every key the IDE keeps in localStorage, in one place.
const KEYS = {
  script: "python-api-ide.script",
  input: "python-api-ide.input",
  endpoint: "python-api-ide.endpoint",
  theme: "python-api-ide.theme",
} as const;

export type ThemeChoice = "light" | "dark";

// localStorage can throw (privacy modes, quota); the IDE must still work.
function read(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    /* not persisted; the session still has it */
  }
}

export function loadScript(fallback: string): string {
  return read(KEYS.script) ?? fallback;
}

export function saveScript(script: string): void {
  write(KEYS.script, script);
}

/** The Input (JSON) pane's text as typed; "" (no input) when nothing is stored. */
export function loadInput(): string {
  return read(KEYS.input) ?? "";
}

export function saveInput(text: string): void {
  write(KEYS.input, text === "" ? null : text);
}

export function loadEndpoint(): Endpoint {
  const raw = read(KEYS.endpoint);
  if (!raw) return { ...defaultEndpoint };
  try {
    const v = JSON.parse(raw) as Partial<Endpoint>;
    const authMode: AuthMode = v.authMode === "api-key" ? "api-key" : "bearer";
    return {
      baseUrl: typeof v.baseUrl === "string" ? v.baseUrl : "",
      token: typeof v.token === "string" ? v.token : "",
      authMode,
    };
  } catch {
    return { ...defaultEndpoint };
  }
}

export function saveEndpoint(e: Endpoint): void {
  write(KEYS.endpoint, JSON.stringify(e));
}

/** null: follow the system preference. */
export function loadTheme(): ThemeChoice | null {
  const v = read(KEYS.theme);
  return v === "light" || v === "dark" ? v : null;
}

export function saveTheme(t: ThemeChoice | null): void {
  write(KEYS.theme, t);
}
