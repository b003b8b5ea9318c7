// Options: from the script tag's data attributes, from `SiWi.init({...})`, or both (init wins).

import { isLanguage, type Language } from "./i18n";

export const COLOR_PROPERTIES = {
  accent: "--siwi-accent",
  accentText: "--siwi-accent-text",
  background: "--siwi-background",
  text: "--siwi-text",
  focus: "--siwi-focus",
} as const;
export type ColorName = keyof typeof COLOR_PROPERTIES;

export interface InitOptions {
  /** Base URL of the SiWi server: https://HOST, wss://HOST or with a path prefix. Default: the script's origin. */
  server?: string;
  /** Language of the widget's own texts: "de" (default) or "en". Answers follow the citizen's language. */
  lang?: string;
  /** Heading of the chat window. */
  title?: string;
  /** Corner of the launcher and window: "right" (default) or "left". */
  position?: string;
  /** Open the chat window when the page has loaded. */
  open?: boolean | string;
  /** Link to the privacy notice, shown with the AI notice. */
  privacyUrl?: string;
  /** Colours as CSS colour values; they set the CSS custom properties listed in COLOR_PROPERTIES. */
  colors?: Partial<Record<ColorName, string>>;
}

export interface Options {
  server: string;
  socketUrl: string;
  language: Language;
  title: string | null;
  position: "left" | "right";
  open: boolean;
  privacyUrl: string | null;
  colors: Partial<Record<ColorName, string>>;
}

/** Options from data attributes (`data-server`, `data-lang`, `data-color-accent`, …). */
export function optionsFromDataset(dataset: DOMStringMap): InitOptions {
  const colors: Partial<Record<ColorName, string>> = {};
  for (const name of Object.keys(COLOR_PROPERTIES) as ColorName[]) {
    const value = dataset["color" + name[0].toUpperCase() + name.slice(1)];
    if (value) colors[name] = value;
  }
  const options: InitOptions = { colors };
  if (dataset.server) options.server = dataset.server;
  if (dataset.lang) options.lang = dataset.lang;
  if (dataset.title) options.title = dataset.title;
  if (dataset.position) options.position = dataset.position;
  if (dataset.open !== undefined) options.open = dataset.open;
  if (dataset.privacyUrl) options.privacyUrl = dataset.privacyUrl;
  return options;
}

export function resolveOptions(given: InitOptions, defaultServer: string, pageLanguage: string): Options {
  const server = given.server?.trim() || defaultServer;
  const language = pickLanguage(given.lang, pageLanguage);
  const colors: Partial<Record<ColorName, string>> = {};
  for (const [name, value] of Object.entries(given.colors ?? {}) as [ColorName, string][]) {
    if (!(name in COLOR_PROPERTIES)) {
      warn(`unknown colour "${name}" (known: ${Object.keys(COLOR_PROPERTIES).join(", ")})`);
    } else if (typeof value === "string" && CSS.supports("color", value)) {
      colors[name] = value;
    } else {
      warn(`colour ${name}: "${value}" is not a CSS colour`);
    }
  }
  const position = given.position === "left" ? "left" : "right";
  if (given.position && given.position !== "left" && given.position !== "right") {
    warn(`position "${given.position}" is neither "left" nor "right"; using "right"`);
  }
  return {
    server,
    socketUrl: socketUrl(server),
    language,
    title: given.title?.trim() || null,
    position,
    open: given.open === true || given.open === "" || given.open === "true",
    privacyUrl: safeHttpUrl(given.privacyUrl, document.baseURI),
    colors,
  };
}

function pickLanguage(requested: string | undefined, pageLanguage: string): Language {
  const wanted = (requested || pageLanguage || "de").toLowerCase().split("-")[0];
  if (isLanguage(wanted)) return wanted;
  if (requested) warn(`language "${requested}" is not available; using German`);
  return "de";
}

/** The chat WebSocket URL for a server base URL: http→ws, https→wss, path prefix kept, `/ws/chat` added. */
export function socketUrl(server: string): string {
  const url = new URL(server, document.baseURI);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new Error(`SiWi: server "${server}" is not an http(s) or ws(s) URL`);
  url.pathname = url.pathname.replace(/\/+$/, "") + "/ws/chat";
  url.search = "";
  url.hash = "";
  return url.toString();
}

/** An absolute http(s) URL, or null: the only links the widget ever creates. */
export function safeHttpUrl(value: string | null | undefined, base?: string): string | null {
  if (!value) return null;
  try {
    const url = base ? new URL(value, base) : new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function warn(message: string): void {
  console.warn(`SiWi widget: ${message}`);
}
