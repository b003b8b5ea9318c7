// The staff workspace under /staff (docs/staff.md): login, the live inbox with the transcript and the
// actions claim / reply / transfer / close, and the other pages (staff-pages.ts). One page, client-side
// navigation between its views, so that the inbox socket (/staff/ws) stays open: a new arrival raises the
// badge (and plays a sound, if the user switched it on) wherever the user is.

import { h } from "./dom";
import {
  announce, api, ApiError, field, hooks, httpUrl, keepFocus, LANGUAGES, options, REASONS, report, session, since,
  statusLine, when, type Detail, type Message, type Session, type StaffInfo, type Summary,
} from "./staff-core";
import { callbacksPage, exportPage, feedbackPage, searchPage, setNavigate, type Page } from "./staff-pages";

const APP = "SiWi Arbeitsplatz";
const SOUND_KEY = "siwi-staff-sound";

const inbox = new Map<string, Summary>();
const unread = new Set<string>();
const drafts = new Map<string, string>();
let openCallbacks = 0;
let onDuty = false;
let available: StaffInfo[] = [];
let socket: WebSocket | null = null;
let retries = 0;
let away = false;
let current: Page | null = null;
let loginNotice = "";

const main = document.getElementById("main") as HTMLElement;
const header = document.getElementById("top") as HTMLElement;

// --- navigation ---------------------------------------------------------------------------------------

function navigate(path: string, replace = false): void {
  history[replace ? "replaceState" : "pushState"](null, "", path);
  show(true);
}

function show(moveFocus: boolean): void {
  const url = new URL(location.href);
  const path = url.pathname.replace(/\/+$/, "") || "/staff";
  if (path === "/staff/login") {
    if (session.me) navigate("/staff/", true);
    else loginPage();
    return;
  }
  if (!session.me) {
    navigate(`/staff/login?next=${encodeURIComponent(url.pathname + url.search)}`, true);
    return;
  }
  current = PAGES[path] ?? inboxPage;
  updateHeader();
  current.render(main, url.searchParams);
  if (moveFocus) main.querySelector<HTMLElement>("h1")?.focus();
}

document.addEventListener("click", (event) => {
  const link = (event.target as Element).closest?.("a[data-nav]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute("href") as string);
});
window.addEventListener("popstate", () => show(true));

// --- login and logout -------------------------------------------------------------------------------------

function loginPage(): void {
  header.hidden = true;
  document.title = `Anmeldung – ${APP}`;
  const [username, usernameField] = field("Benutzername", "input", {
    name: "username", autocomplete: "username", required: true, maxlength: 64, autocapitalize: "none", spellcheck: "false",
  });
  const [password, passwordField] = field("Passwort", "input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { id: "login-error", class: "error", role: "alert" }, loginNotice);
  loginNotice = "";
  const button = h("button", { type: "submit", class: "primary" }, "Anmelden");
  const form = h("form", {
    class: "login-form", novalidate: true,
    onsubmit: async (event: Event) => {
      event.preventDefault();
      for (const [input, text] of [[username, "Bitte geben Sie Ihren Benutzernamen ein."], [password, "Bitte geben Sie Ihr Passwort ein."]] as const) {
        if (!input.value) return fail(input, text);
      }
      button.disabled = true;
      try {
        start(await api<Session>("/login", { username: username.value.trim(), password: password.value }));
        const next = new URLSearchParams(location.search).get("next") ?? "";
        navigate(/^\/staff\/(?!login)/.test(next) ? next : "/staff/", true);
      } catch (failure) {
        password.value = "";
        fail(password, failure instanceof Error ? failure.message : String(failure));
      } finally {
        button.disabled = false;
      }
    },
  }, usernameField, passwordField, error, button);
  const fail = (input: HTMLInputElement, text: string) => {
    for (const other of [username, password]) other.removeAttribute("aria-invalid");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "login-error");
    error.textContent = text;
    input.focus();
  };
  main.replaceChildren(h("div", { class: "login" },
    h("h1", { tabindex: -1 }, "Anmeldung"),
    h("p", { class: "lead" }, "Arbeitsplatz für die Mitarbeiterinnen und Mitarbeiter der Kreisverwaltung: Chats übernehmen, Rückrufe, Rückmeldungen und die Wissenssuche."),
    form));
  username.focus();
}

function start(info: Session): void {
  session.me = info.staff;
  session.csrf = info.csrf_token;
  buildHeader();
  connect();
}

function loggedOut(notice = "Bitte melden Sie sich an."): void {
  if (!session.me) return;
  session.me = null;
  session.csrf = "";
  const old = socket;
  socket = null;
  old?.close();
  inbox.clear();
  unread.clear();
  loginNotice = notice;
  navigate(`/staff/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
}
hooks.unauthenticated = () => loggedOut("Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.");

// --- header: navigation with badges, presence, sound, logout ---------------------------------------------

const NAV: [string, string][] = [
  ["/staff/", "Posteingang"], ["/staff/callbacks", "Rückrufe"], ["/staff/feedback", "Rückmeldungen"],
  ["/staff/search", "Wissenssuche"], ["/staff/export", "Export"],
];

function buildHeader(): void {
  const me = session.me as StaffInfo;
  const presence = h("input", { type: "checkbox", id: "presence", checked: !away });
  presence.addEventListener("change", () => {
    away = !presence.checked;
    send({ type: "presence", status: away ? "away" : "available" });
    announce(away ? "Sie sind jetzt abwesend: Ihnen werden keine Chats angeboten." : "Sie sind jetzt für Chats verfügbar.");
  });
  const sound = h("input", { type: "checkbox", id: "sound", checked: localStorage.getItem(SOUND_KEY) === "on" });
  sound.addEventListener("change", () => {
    localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
    if (sound.checked) beep();
  });
  header.replaceChildren(
    h("div", { class: "bar" },
      h("p", { class: "brand" }, "SiWi ", h("span", {}, "Arbeitsplatz")),
      h("nav", { "aria-label": "Bereiche" }, h("ul", {}, NAV.filter(([path]) => path !== "/staff/export" || me.role === "admin").map(([path, label]) =>
        h("li", {}, h("a", { href: path, "data-nav": "" }, label, path === "/staff/" || path === "/staff/callbacks" ? [" ", h("span", { class: "badge", hidden: true })] : null))))),
      h("div", { class: "me" },
        h("p", {}, me.display_name, me.team ? ` · ${me.team}` : ""),
        h("p", { class: "toggle" }, presence, h("label", { for: "presence" }, "Für Chats verfügbar")),
        h("p", { class: "toggle" }, sound, h("label", { for: "sound" }, "Ton bei neuen Anfragen")),
        h("button", {
          type: "button", class: "quiet",
          onclick: async () => {
            try {
              await api("/logout", {});
            } catch {
              // the session is gone either way
            }
            loggedOut("Sie haben sich abgemeldet.");
          },
        }, "Abmelden"))),
    h("p", { class: "duty", role: "status" }),
    h("p", { class: "connection", role: "status" }));
  header.hidden = false;
}

function updateHeader(): void {
  const waiting = [...inbox.values()].filter((c) => c.state === "waiting").length;
  const path = location.pathname.replace(/\/+$/, "") || "/staff";
  for (const link of header.querySelectorAll<HTMLAnchorElement>("nav a")) {
    const target = link.getAttribute("href")?.replace(/\/+$/, "");
    if (target === path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    const badge = link.querySelector<HTMLElement>(".badge");
    if (!badge) continue;
    const count = target === "/staff" ? waiting : openCallbacks;
    badge.hidden = count <= 0;
    badge.replaceChildren(String(count), h("span", { class: "sr-only" }, target === "/staff" ? " wartend" : " offen"));
  }
  const duty = header.querySelector(".duty");
  const text = onDuty
    ? `Der Chat ist besetzt (${available.filter((s) => s.status === "available").length} verfügbar).`
    : "Der Chat ist nicht besetzt: Bürgerinnen und Bürger erhalten die Kontaktdaten und das Rückrufformular.";
  if (duty && duty.textContent !== text) {
    duty.textContent = text;
    duty.classList.toggle("off", !onDuty);
  }
  document.title = `${waiting ? `(${waiting}) ` : ""}${current?.title ?? "Posteingang"} – ${APP}`;
}

function beep(): void {
  try {
    const context = new AudioContext();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.08;
    tone.connect(gain).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.18);
    tone.onended = () => void context.close();
  } catch {
    // no audio here
  }
}

/** A new arrival: screen readers hear it, the badge counts it, and a sound plays if the user wants one. */
function notify(text: string): void {
  announce(text);
  if (localStorage.getItem(SOUND_KEY) === "on") beep();
  updateHeader();
}

// --- the live socket --------------------------------------------------------------------------------------

function connect(): void {
  if (socket || !session.me) return;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/staff/ws`);
  socket = ws;
  ws.onmessage = (event) => {
    if (socket !== ws) return;
    try {
      onFrame(JSON.parse(event.data));
    } catch (error) {
      console.error("SiWi staff: frame", error);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setConnection("Die Live-Verbindung ist unterbrochen. Neuer Versuch in Kürze …");
    const delay = Math.min(15000, 1000 * 2 ** retries++);
    window.setTimeout(() => {
      // Still signed in? A 401 sends the page to the login.
      api("/me").then(connect, (error) => (error instanceof ApiError && error.status === 401 ? undefined : connect()));
    }, delay);
  };
}

function send(frame: Record<string, unknown>): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ v: 1, ...frame }));
}

function setConnection(text: string): void {
  const line = header.querySelector(".connection");
  if (line) line.textContent = text;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function onFrame(frame: any): void {
  switch (frame.type) {
    case "hello":
      retries = 0;
      setConnection("");
      inbox.clear();
      for (const c of frame.inbox as Summary[]) inbox.set(c.id, c);
      openCallbacks = frame.open_callbacks;
      onDuty = frame.on_duty;
      if (away) send({ type: "presence", status: "away" });
      changed(null, true);
      break;
    case "conversation": {
      const c = frame.conversation as Summary;
      if (c.state === "closed") inbox.delete(c.id);
      else inbox.set(c.id, c);
      if (frame.event === "queued") notify(`Neue Anfrage in der Warteschlange: „${short(c.preview) || "ohne Text"}“`);
      changed(c, false);
      break;
    }
    case "message":
      onMessage(frame.conversation_id, frame.message as Message);
      break;
    case "callback":
      openCallbacks = Math.max(0, openCallbacks + (frame.event === "new" ? 1 : -1));
      if (frame.event === "new") notify("Neue Rückrufbitte eingegangen.");
      else updateHeader();
      if (current === callbacksPage) callbacksPage.refresh?.();
      break;
    case "presence":
      onDuty = frame.on_duty;
      available = frame.staff;
      updateHeader();
      break;
    case "error":
      if (frame.code === "session_expired") loggedOut(frame.message);
      break;
  }
}

function short(text: string): string {
  return text.length > 80 ? text.slice(0, 80) + " …" : text;
}

// --- inbox --------------------------------------------------------------------------------------------------

let selected: string | null = null;
let detail: Detail | null = null;
const view = {
  lists: h("div"),
  detail: h("section", { class: "detail", "aria-labelledby": "detail-title" }),
  meta: h("p", { class: "meta" }),
  transcript: h("ol", { class: "transcript" }),
  actions: h("div", { class: "actions" }),
  status: statusLine(),
};

const inboxPage: Page = {
  title: "Posteingang",
  render(target, params) {
    selected = params.get("c");
    detail = null;
    view.actions.dataset.sig = "";
    target.replaceChildren(
      h("h1", { tabindex: -1 }, "Posteingang"),
      h("div", { class: "inbox" }, h("section", { class: "lists", "aria-label": "Gespräche" }, view.lists), view.detail));
    renderLists();
    void loadDetail(false);
  },
};

const PAGES: Record<string, Page> = {
  "/staff": inboxPage, "/staff/inbox": inboxPage, "/staff/callbacks": callbacksPage, "/staff/feedback": feedbackPage,
  "/staff/search": searchPage, "/staff/export": exportPage,
};

/** The inbox changed (a socket event, or a new hello after a reconnect). */
function changed(summary: Summary | null, reloadDetail: boolean): void {
  updateHeader();
  if (current !== inboxPage) return;
  renderLists();
  if (reloadDetail) void loadDetail(false);
  else if (summary && detail && summary.id === detail.id) {
    Object.assign(detail, summary);
    renderMeta();
    renderActions();
  }
}

function renderLists(): void {
  const all = [...inbox.values()];
  const waiting = all.filter((c) => c.state === "waiting").sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
  const me = session.me?.username;
  const assigned = all.filter((c) => c.state === "assigned").sort((a, b) => Number(b.assigned_to === me) - Number(a.assigned_to === me));
  const list = (id: string, title: string, items: Summary[], empty: string) => [
    h("h2", { id }, title, " ", h("span", { class: "count" }, `(${items.length})`)),
    items.length ? h("ul", { class: "conversations", "aria-labelledby": id }, items.map(item)) : h("p", { class: "empty" }, empty),
  ];
  keepFocus(() => view.lists.replaceChildren(
    ...list("waiting-title", "Wartend", waiting, "Niemand wartet."),
    ...list("assigned-title", "In Bearbeitung", assigned, "Kein Gespräch in Bearbeitung.")));
}

function item(c: Summary): HTMLLIElement {
  const mine = c.assigned_to === session.me?.username;
  const where = c.state === "waiting" ? `Position ${c.position ?? "?"}` : mine ? "bei Ihnen" : `bei ${c.assigned_name ?? c.assigned_to}`;
  return h("li", {}, h("button", {
    type: "button", class: `conversation ${c.state}${mine ? " mine" : ""}`, "data-key": `c-${c.id}`,
    "aria-current": c.id === selected ? "true" : null, onclick: () => select(c.id),
  },
    h("span", { class: "line" }, h("strong", {}, where), ` · ${since(c.state === "waiting" ? c.queued_at : c.assigned_at ?? c.queued_at)}`,
      unread.has(c.id) ? h("span", { class: "new" }, "neue Nachricht") : null),
    h("span", { class: "preview" }, c.preview || "(noch keine Nachricht)"),
    h("span", { class: "line small" }, [REASONS[c.reason] ?? c.reason, c.topic && `Thema: ${c.topic}`, LANGUAGES[c.language] ?? c.language].filter(Boolean).join(" · "))));
}

function select(id: string): void {
  selected = id;
  unread.delete(id);
  history.replaceState(null, "", `/staff/?c=${encodeURIComponent(id)}`);
  renderLists();
  void loadDetail(true);
}

async function loadDetail(focus: boolean): Promise<void> {
  if (!selected) {
    view.detail.replaceChildren(h("h2", { id: "detail-title" }, "Gespräch"), h("p", { class: "empty" }, "Wählen Sie ein Gespräch aus der Liste."));
    return;
  }
  try {
    detail = await api<Detail>(`/conversations/${encodeURIComponent(selected)}`);
  } catch (error) {
    view.detail.replaceChildren(h("h2", { id: "detail-title" }, "Gespräch"), h("p", { class: "status-line error" }, (error as Error).message));
    return;
  }
  view.transcript.replaceChildren(...detail.messages.map(messageNode));
  view.actions.dataset.sig = "";
  view.status.textContent = "";
  const title = h("h2", { id: "detail-title", tabindex: -1 }, `Gespräch ${detail.id.slice(0, 8)}`);
  view.detail.replaceChildren(title, view.meta,
    h("h3", { class: "sr-only" }, "Verlauf"), view.transcript,
    h("h3", { class: "sr-only" }, "Aktionen"), view.actions, view.status);
  renderMeta();
  renderActions();
  view.transcript.scrollTop = view.transcript.scrollHeight;
  if (focus) title.focus();
}

function renderMeta(): void {
  const d = detail as Detail;
  const state = d.state === "waiting" ? `Wartet (Position ${d.position ?? "?"})`
    : d.state === "assigned" ? `In Bearbeitung bei ${d.assigned_name ?? d.assigned_to}`
      : `Beendet ${d.closed_by === "citizen" ? "von der Bürgerin / dem Bürger" : "vom Team"}`;
  view.meta.replaceChildren(h("strong", {}, state), ` · ${REASONS[d.reason] ?? d.reason}`, d.topic ? ` · Thema: ${d.topic}` : "",
    ` · ${LANGUAGES[d.language] ?? d.language} · begonnen `, when(d.created_at));
}

const OUTCOME: Record<string, string> = { answered: "beantwortet", no_answer: "keine Antwort gefunden", handoff: "an Person verwiesen", emergency: "Notfall" };

function messageNode(m: Message): HTMLLIElement {
  if (m.role === "system") return h("li", { class: "message system", "data-seq": m.seq }, h("p", {}, systemText(m), " · ", when(m.created_at, true)));
  const who = m.role === "citizen" ? "Bürgerin/Bürger" : m.role === "bot" ? "SiWi" : m.staff_name ?? m.staff_username ?? "Team";
  return h("li", { class: `message ${m.role}`, "data-seq": m.seq },
    h("p", { class: "who" }, h("strong", {}, who), " · ", when(m.created_at, true),
      m.role === "bot" && m.outcome ? ` · ${OUTCOME[m.outcome] ?? m.outcome}` : ""),
    h("div", { class: "text" }, m.text),
    m.role === "bot" && m.citations.length ? h("div", { class: "citations" },
      h("p", { class: "small" }, "Quellen der Antwort"),
      h("ol", {}, m.citations.map((c) => {
        const href = httpUrl(c.url);
        return h("li", { value: c.number },
          href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, c.title || c.location, h("span", { class: "sr-only" }, " (öffnet in neuem Fenster)"))
            : h("span", {}, c.title || c.location),
          c.snippet ? h("blockquote", {}, c.snippet) : null);
      }))) : null);
}

/** The server's audit lines ("assigned: Frau Muster", "closed by staff: Notiz") in German. */
function systemText(m: Message): string {
  const rest = m.text.replace(/^[^:]*:\s*/, "");
  switch (m.event) {
    case "queued": return `In die Warteschlange gestellt: ${REASONS[rest.split(" ")[0]] ?? rest}`;
    case "assigned": return `Übernommen von ${m.staff_name ?? rest}`;
    case "transferred": {
      const note = m.text.split(" — ")[1];
      return (m.staff_name ? `Weitergeleitet an ${m.staff_name}` : "Zurück in die Warteschlange") + (note ? ` – Notiz: ${note}` : "");
    }
    case "closed": {
      const note = /^closed by \w+: ([\s\S]*)$/.exec(m.text)?.[1];
      return (m.text.startsWith("closed by citizen") ? "Von der Bürgerin / dem Bürger beendet" : "Vom Team beendet") + (note ? ` – Notiz: ${note}` : "");
    }
    default: return m.text;
  }
}

function onMessage(conversationId: string, message: Message): void {
  const mine = inbox.get(conversationId)?.assigned_to === session.me?.username;
  if (detail?.id === conversationId && current === inboxPage) {
    if (detail.messages.some((m) => m.seq === message.seq)) return;
    detail.messages.push(message);
    view.transcript.append(messageNode(message));
    view.transcript.scrollTop = view.transcript.scrollHeight;
    if (message.role === "citizen") notify(`Neue Nachricht der Bürgerin / des Bürgers: ${short(message.text)}`);
  } else if (message.role === "citizen" && mine) {
    unread.add(conversationId);
    notify("Neue Nachricht in einem Ihrer Gespräche.");
  }
}

function renderActions(): void {
  const d = detail as Detail;
  const me = session.me as StaffInfo;
  const signature = `${d.state}|${d.assigned_to}`;
  if (view.actions.dataset.sig === signature) return;
  view.actions.dataset.sig = signature;
  keepFocus(() => {
    if (d.state === "waiting") {
      view.actions.replaceChildren(h("button", { type: "button", class: "primary", "data-key": "claim", onclick: () => act("claim", {}, "Sie haben das Gespräch übernommen.") }, "Übernehmen"));
    } else if (d.state === "closed") {
      view.actions.replaceChildren(h("p", {}, "Dieses Gespräch ist beendet.", d.close_note ? ` Notiz: ${d.close_note}` : ""));
    } else if (d.assigned_to !== me.username && me.role !== "admin") {
      view.actions.replaceChildren(h("p", {}, `Dieses Gespräch bearbeitet ${d.assigned_name ?? d.assigned_to}.`));
    } else {
      view.actions.replaceChildren(replyForm(d), transferForm(d), closeForm());
    }
  });
}

/** claim / reply / transfer / close over HTTP (with the CSRF token); the socket then tells everybody. */
async function act(action: string, body: Record<string, unknown>, done: string): Promise<boolean> {
  const d = detail as Detail;
  try {
    const result = await api<{ conversation: Summary }>(`/conversations/${encodeURIComponent(d.id)}/${action}`, body);
    const c = result.conversation;
    if (c.state === "closed") inbox.delete(c.id);
    else inbox.set(c.id, c);
    report(view.status, null, done);
    changed(c, false);
    // The button that was used may be gone (claimed: now the reply box; closed: nothing to do).
    if (!view.detail.contains(document.activeElement)) {
      (document.querySelector<HTMLElement>('[data-key="reply"]') ?? document.getElementById("detail-title"))?.focus();
    }
    return true;
  } catch (error) {
    report(view.status, error);
    return false;
  }
}

function replyForm(d: Detail): HTMLFormElement {
  const [text, textField] = field("Ihre Antwort an die Bürgerin / den Bürger", "textarea", {
    rows: 3, maxlength: 4000, "data-key": "reply", "aria-describedby": "reply-hint",
  });
  text.value = drafts.get(d.id) ?? "";
  text.addEventListener("input", () => drafts.set(d.id, text.value));
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const form = h("form", {
    class: "reply",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      const value = text.value.trim();
      if (!value) {
        report(view.status, new Error("Bitte schreiben Sie zuerst eine Antwort."));
        text.focus();
        return;
      }
      if (await act("reply", { text: value }, "Antwort gesendet.")) {
        text.value = "";
        drafts.delete(d.id);
      }
      text.focus();
    },
  }, textField, h("p", { id: "reply-hint", class: "small" }, "Strg + Enter sendet. Die Bürgerin / der Bürger sieht Ihren Namen."),
    h("button", { type: "submit", class: "primary", "data-key": "reply-send" }, "Antwort senden"));
  return form;
}

function transferForm(d: Detail): HTMLElement {
  const [to, toField] = field("Weiterleiten an", "select", { "data-key": "transfer-to" }, ...options([["", "zurück in die Warteschlange"]]));
  const [note, noteField] = field("Notiz für die Kollegin / den Kollegen (intern)", "input", { type: "text", maxlength: 2000, "data-key": "transfer-note" });
  api<StaffInfo[]>("/staff").then((people) => {
    const status: Record<string, string> = { available: "verfügbar", away: "abwesend", offline: "nicht angemeldet" };
    to.append(...people.filter((p) => p.username !== d.assigned_to).map((p) =>
      h("option", { value: p.username }, `${p.display_name}${p.team ? ` (${p.team})` : ""} – ${status[p.status] ?? p.status}`)));
  }, () => undefined);
  return h("details", { class: "more" }, h("summary", {}, "Weiterleiten …"),
    h("form", {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const target = to.selectedOptions[0]?.textContent ?? "";
        await act("transfer", { to: to.value || null, note: note.value.trim() || null },
          to.value ? `Weitergeleitet an ${target.split(" – ")[0]}.` : "Zurück in die Warteschlange gestellt.");
      },
    }, toField, noteField, h("button", { type: "submit", "data-key": "transfer" }, "Weiterleiten")));
}

function closeForm(): HTMLElement {
  const [note, noteField] = field("Abschlussnotiz (intern, für die Auswertung)", "textarea", { rows: 2, maxlength: 2000, "data-key": "close-note" });
  return h("details", { class: "more" }, h("summary", {}, "Gespräch beenden …"),
    h("form", {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        await act("close", { note: note.value.trim() || null }, "Das Gespräch ist beendet.");
      },
    }, noteField, h("button", { type: "submit", class: "danger", "data-key": "close" }, "Gespräch beenden")));
}

// "seit 4 Min." stays current.
window.setInterval(() => current === inboxPage && session.me && renderLists(), 30000);

// --- start --------------------------------------------------------------------------------------------------

async function boot(): Promise<void> {
  setNavigate(navigate);
  if (!/^\/staff\/login\/?$/.test(location.pathname)) {
    try {
      start(await api<Session>("/me"));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) loginNotice = (error as Error).message;
    }
  }
  show(false);
}

void boot();
