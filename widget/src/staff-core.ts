// The staff workspace (/staff): what every page needs — the JSON API with the session's CSRF token, the
// shapes it returns (bot/staff_protocol.py), announcements, dates and small form helpers. Like the widget it
// builds DOM nodes only; nothing from a citizen, a document or the server is ever parsed as HTML.

import { h } from "./dom";
import type { Citation } from "./protocol";

export interface StaffInfo {
  username: string;
  display_name: string;
  team: string | null;
  role: "agent" | "admin";
  status: "available" | "away" | "offline";
}

export interface Summary {
  id: string;
  state: "waiting" | "assigned" | "closed";
  reason: string;
  language: string;
  topic: string | null;
  created_at: string;
  queued_at: string;
  assigned_at: string | null;
  assigned_to: string | null;
  assigned_name: string | null;
  position: number | null;
  last_seq: number;
  preview: string;
  closed_by: string | null;
  close_note: string | null;
}

export interface Message {
  seq: number;
  role: "citizen" | "bot" | "staff" | "system";
  text: string;
  created_at: string;
  citations: Citation[];
  outcome: string | null;
  event: string | null;
  staff_username: string | null;
  staff_name: string | null;
}

export interface Detail extends Summary {
  messages: Message[];
}

export interface Callback {
  id: number;
  conversation_id: string | null;
  name: string | null;
  phone: string | null;
  email: string | null;
  message: string | null;
  language: string;
  consent_at: string;
  state: "open" | "done";
  created_at: string;
  done_at: string | null;
  done_by: string | null;
  note: string | null;
  context: { role: string; text: string }[];
}

export interface Session {
  staff: StaffInfo;
  csrf_token: string;
  expires_at: string;
}

/** Who is signed in, and the CSRF token of the session: in memory only (never in storage). */
export const session: { me: StaffInfo | null; csrf: string } = { me: null, csrf: "" };

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Called when the session is gone (401, or the socket said so): back to the login page. */
export const hooks = { unauthenticated: () => {} };

/** GET when there is no body, else POST with the CSRF token; errors as ApiError with the server's German text. */
export async function api<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = body === undefined
    ? { headers: { Accept: "application/json" } }
    : { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf }, body: JSON.stringify(body) };
  let response: Response;
  try {
    response = await fetch("/staff/api" + path, { credentials: "same-origin", ...init });
  } catch {
    throw new ApiError(0, "network", "Keine Verbindung zum Server. Bitte versuchen Sie es gleich noch einmal.");
  }
  if (response.status === 204) return undefined as T;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data?.detail;
    const message = typeof detail?.message === "string" ? detail.message
      : Array.isArray(detail) ? "Die Eingabe ist ungültig. Bitte prüfen Sie sie." : `Der Server antwortet mit Fehler ${response.status}.`;
    if (response.status === 401 && path !== "/login") hooks.unauthenticated();
    throw new ApiError(response.status, detail?.code ?? "", message);
  }
  return data as T;
}

let liveTimer = 0;
/** Tell screen readers (polite live region of the page). */
export function announce(text: string): void {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  window.clearTimeout(liveTimer);
  liveTimer = window.setTimeout(() => (live.textContent = text), 80);
}

const DATE_TIME = new Intl.DateTimeFormat("de-DE", { dateStyle: "medium", timeStyle: "short" });
const TIME = new Intl.DateTimeFormat("de-DE", { timeStyle: "short" });

export function when(iso: string | null, timeOnly = false): HTMLTimeElement | string {
  if (!iso) return "–";
  const date = new Date(iso);
  return h("time", { datetime: date.toISOString() }, (timeOnly ? TIME : DATE_TIME).format(date));
}

/** "seit 4 Min." for a waiting time. */
export function since(iso: string): string {
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  return minutes < 60 ? `seit ${minutes} Min.` : `seit ${Math.floor(minutes / 60)} Std. ${minutes % 60} Min.`;
}

export const REASONS: Record<string, string> = {
  requested: "bat um eine Person",
  button: "Schaltfläche „Mit einem Menschen sprechen“",
  topic: "Thema für Menschen",
  no_answer: "zweimal keine Antwort",
  check_failed: "Antwort nicht belegt (wichtige Frage)",
  feedback: "negative Bewertung",
};

export const LANGUAGES: Record<string, string> = { de: "Deutsch", en: "Englisch" };

let counter = 0;
/** A labelled form control: [control, wrapper]. */
export function field<K extends "input" | "textarea" | "select">(
  label: string, tag: K, attributes: Record<string, string | number | boolean | null> = {}, ...children: Node[]
): [HTMLElementTagNameMap[K], HTMLElement] {
  counter += 1;
  const id = `f-${counter}`;
  const control = h(tag, { id, ...attributes }, ...children) as HTMLElementTagNameMap[K];
  return [control, h("p", { class: "field" }, h("label", { for: id }, label), control)];
}

export function options(values: [string, string][], selected = ""): HTMLOptionElement[] {
  return values.map(([value, label]) => h("option", { value, selected: value === selected }, label));
}

/** An http(s) URL for a link, or null (a local path, a javascript: URL). */
export function httpUrl(value: string | null | undefined): string | null {
  try {
    const url = new URL(value ?? "");
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Rebuild part of the page without losing the keyboard focus: controls carry data-key. */
export function keepFocus(rebuild: () => void): void {
  const key = (document.activeElement as HTMLElement | null)?.dataset?.key;
  rebuild();
  if (key) document.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

/** A status line for the result of an action (role=status: read out when it changes). */
export function statusLine(): HTMLParagraphElement {
  return h("p", { class: "status-line", role: "status" });
}

export function report(line: HTMLElement, error: unknown, done?: string): void {
  line.classList.toggle("error", !!error);
  line.textContent = error ? (error instanceof Error ? error.message : String(error)) : done ?? "";
}
