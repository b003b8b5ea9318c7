// <siwi-chat>: the launcher and the chat window, in a Shadow DOM so that the host page's CSS cannot reach
// in and the widget's CSS cannot leak out.
//
// Delivery rules (docs/widget.md): every question gets a client_message_id and stays "queued" until the
// server has it; one question is on the wire at a time, so an error belongs to it without doubt; after a
// reconnect, a question whose final answer did not arrive is sent again with the same id and its partial
// answer is replaced, never appended to. The conversation and its id live in sessionStorage.

import { Connection, type ConnectionState } from "./connection";
import { append, h, icon, srOnly, uid } from "./dom";
import { callbackForm, handoffState, linkPhoneNumbers, renderHandoff, StatusCard, type CallbackFields, type CallbackForm } from "./handoff";
import { translator, type Translate } from "./i18n";
import { plainText, renderMarkdown } from "./markdown";
import { COLOR_PROPERTIES, safeHttpUrl, warn, type ColorName, type Options } from "./options";
import { citationOf, PROTOCOL_VERSION, type Citation, type HandoffFrame, type Rating, type ServerMessage } from "./protocol";
import { ConversationStore, type BotEntry, type Entry, type EventEntry, type StaffEntry, type UserEntry } from "./store";
import css from "./styles.css";

export const MAX_MESSAGE_CHARS = 2000;
export const MAX_COMMENT_CHARS = 1000;
const FOCUSABLE = 'a[href], button:not([disabled]), textarea:not([disabled]), input:not([disabled]), [tabindex]:not([tabindex="-1"])';

let sheet: CSSStyleSheet | null = null;

export class SiwiChat extends HTMLElement {
  private readonly shadow: ShadowRoot;
  private options!: Options;
  private t!: Translate;
  private store!: ConversationStore;
  private connection!: Connection;
  private inflight: string | null = null;
  private queuePosition: number | null = null;
  /** Feedback frames sent per answer and not yet acknowledged (the server acknowledges in order). */
  private feedbackInFlight = new Map<string, number>();
  private rendered = new Map<string, HTMLElement>();
  private pendingRender = new Set<string>();
  private renderFrame = 0;
  private wasOffline = false;
  private retryTicker: number | undefined;
  /** A handoff_request or end_handoff to send once the server is ready for it. */
  private control: "handoff_request" | "end_handoff" | null = null;
  /** A callback request to send once the server is ready for it, and the form it came from. */
  private callbackFields: CallbackFields | null = null;
  private callback: CallbackForm | null = null;

  // Parts of the window.
  private launcher!: HTMLButtonElement;
  private panel!: HTMLDivElement;
  private scroller!: HTMLDivElement;
  private messages!: HTMLOListElement;
  private progress!: HTMLParagraphElement;
  private input!: HTMLTextAreaElement;
  private connectionText!: HTMLParagraphElement;
  private countdown!: HTMLSpanElement;
  private connectionBar!: HTMLDivElement;
  private retryButton!: HTMLButtonElement;
  private live!: HTMLDivElement;
  private status!: StatusCard;
  private handoffButton!: HTMLButtonElement;
  private inputLabel!: HTMLLabelElement;

  constructor() {
    super();
    this.shadow = this.attachShadow({ mode: "open" });
  }

  /** (Re)build the widget with these options. The conversation is kept if the server stays the same. */
  configure(options: Options): void {
    this.teardown();
    this.options = options;
    this.t = translator(options.language);
    this.store = new ConversationStore(`siwi:v1:${options.socketUrl}`);
    this.connection = new Connection(options.socketUrl, () => {
      const { conversationId, resumeToken, lastSeq } = this.store.state;
      const query: Record<string, string> = {};
      if (conversationId) query.conversation_id = conversationId;
      if (conversationId && resumeToken) Object.assign(query, { resume_token: resumeToken, after: String(lastSeq) });
      return query;
    }, {
      message: (message) => this.onMessage(message),
      state: (state, retryAt) => this.onConnectionState(state, retryAt),
    });
    for (const [name, property] of Object.entries(COLOR_PROPERTIES) as [ColorName, string][]) {
      const value = options.colors[name];
      if (value) this.style.setProperty(property, value);
      else this.style.removeProperty(property);
    }
    this.build();
    checkContrast(this);
    for (const entry of this.store.state.entries) this.renderEntry(entry);
    this.updateHandoff();
    // A conversation with staff reconnects at once: what staff wrote meanwhile is waiting.
    if (this.store.state.entries.some((e) => e.kind === "user" && e.status === "queued") || this.withStaff) this.connection.start();
    if (options.open || this.store.state.open) this.open(false);
    window.addEventListener("pagehide", this.onPageHide);
  }

  disconnectedCallback(): void {
    this.teardown();
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  /** Open the chat window; `focus` moves the keyboard focus into it (not when opened on page load). */
  open(focus = true): void {
    if (!this.panel) return;
    this.panel.hidden = false;
    this.launcher.hidden = true;
    this.launcher.setAttribute("aria-expanded", "true");
    this.store.state.open = true;
    this.store.save();
    this.connection.start();
    this.scrollToEnd(true);
    if (focus) {
      // On touch screens the on-screen keyboard would cover the notice: focus the window, not the input.
      if (window.matchMedia("(pointer: coarse)").matches) this.panel.focus();
      else this.input.focus();
    }
  }

  close(): void {
    if (!this.panel || this.panel.hidden) return;
    this.panel.hidden = true;
    this.launcher.hidden = false;
    this.launcher.setAttribute("aria-expanded", "false");
    this.store.state.open = false;
    this.store.save();
    this.launcher.focus();
  }

  /** Clear the conversation here and start a new one with the server (ending one with staff first). */
  clear(): void {
    if (this.withStaff) this.connection.send({ v: PROTOCOL_VERSION, type: "end_handoff" });
    this.store.clear();
    this.inflight = null;
    this.queuePosition = null;
    this.control = this.callbackFields = this.callback = null;
    this.feedbackInFlight.clear();
    this.rendered.clear();
    this.messages.replaceChildren();
    this.updateHandoff();
    this.updateProgress();
    this.connection.restart();
    this.announce(this.t("cleared"));
    this.input.focus();
  }

  /** Ask for a person ("Mit einem Menschen sprechen"): the server answers with a `handoff` frame. */
  requestPerson(): void {
    this.setHandoff(null);
    this.sendControl("handoff_request");
  }

  /** End the conversation with staff ("Gespräch beenden"); SiWi answers again. */
  endHandoff(): void {
    this.sendControl("end_handoff");
  }

  /** Waiting for a person or talking to one: messages go to staff, not to the bot. */
  get withStaff(): boolean {
    const state = this.store.state.handoff?.state;
    return state === "waiting" || state === "assigned";
  }

  private sendControl(type: "handoff_request" | "end_handoff"): void {
    this.control = type;
    this.connection.start();
    this.pump();
  }

  /** The language the conversation is in: that of SiWi's last answer, else the widget's. */
  private get language(): string {
    const last = [...this.store.state.entries].reverse().find((e): e is BotEntry => e.kind === "bot" && !!e.lang);
    return last?.lang ?? this.options.language;
  }

  /** Ask a question. */
  send(text: string, lang: string = this.options.language): void {
    const question = text.trim();
    if (!question) {
      this.announce(this.t("errorEmpty"));
      return;
    }
    const entry: UserEntry = {
      kind: "user",
      id: newId(),
      text: question.slice(0, MAX_MESSAGE_CHARS),
      status: "queued",
      lang,
    };
    this.store.state.entries.push(entry);
    // A new question ends an offer that was not taken (nobody on duty, the callback form).
    if (!this.withStaff) this.setHandoff(null);
    this.store.save();
    this.renderEntry(entry);
    this.scrollToEnd(true);
    this.connection.start();
    this.pump();
  }

  // --- building the window -----------------------------------------------------------------------------

  private build(): void {
    const t = this.t;
    const panelId = uid("panel");
    const titleId = uid("title");
    const inputId = uid("input");
    const hintId = uid("hint");

    this.launcher = h("button", {
      type: "button", class: "launcher", "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": panelId,
      onclick: () => this.open(),
    }, icon("chat"), h("span", {}, t("launcher")));

    const privacy = this.options.privacyUrl;
    const notice = h("div", { class: "notice" },
      h("p", {}, t("aiNotice")),
      h("p", {}, t("privacyHint"), privacy ? " " : null,
        privacy ? h("a", { href: privacy, target: "_blank", rel: "noopener" }, t("privacyLink"), srOnly(" " + t("newWindow"))) : null),
    );

    this.messages = h("ol", { class: "messages" });
    this.progress = h("p", { class: "progress", hidden: true }, h("span", { class: "dots", "aria-hidden": "true" }, h("span"), h("span"), h("span")), h("span", { class: "progress-text" }));
    this.status = new StatusCard(t);
    this.scroller = h("div", { class: "scroller", role: "region", "aria-label": t("conversation"), tabindex: 0 },
      notice, this.messages, this.status.node, this.progress);

    this.connectionText = h("p", { role: "status" });
    this.countdown = h("span", { class: "countdown", "aria-hidden": "true" });
    this.retryButton = h("button", { type: "button", class: "text-button", hidden: true, onclick: () => this.connection.retryNow() }, t("retryNow"));
    this.connectionBar = h("div", { class: "connection" }, this.connectionText, this.countdown, this.retryButton);

    this.input = h("textarea", {
      id: inputId, rows: 1, maxlength: MAX_MESSAGE_CHARS, placeholder: t("placeholder"), "aria-describedby": hintId,
      autocomplete: "off", enterkeyhint: "send",
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submitInput();
      }
    });
    this.input.addEventListener("input", () => this.autoGrow());
    const form = h("form", { class: "composer", onsubmit: (event: Event) => { event.preventDefault(); this.submitInput(); } },
      this.inputLabel = h("label", { for: inputId, class: "sr-only" }),
      this.input,
      h("button", { type: "submit", class: "send" }, icon("send"), srOnly(t("send"))),
      h("p", { id: hintId, class: "sr-only" }, t("inputHint")),
    );

    this.panel = h("div", {
      id: panelId, class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, tabindex: -1, hidden: true,
    },
      h("div", { class: "header" },
        h("h2", { id: titleId }, this.options.title ?? t("title")),
        h("button", { type: "button", class: "icon-button close", onclick: () => this.close() }, icon("close"), srOnly(t("close"))),
      ),
      h("div", { class: "toolbar", role: "group", "aria-label": t("toolbar") },
        this.handoffButton = h("button", { type: "button", class: "tool handoff-button", onclick: () => (this.withStaff ? this.endHandoff() : this.requestPerson()) }, icon("person"), h("span")),
        h("button", { type: "button", class: "tool clear-button", onclick: () => this.clear() }, icon("trash"), h("span", {}, t("clear"))),
      ),
      this.connectionBar,
      this.scroller,
      form,
    );
    this.panel.addEventListener("keydown", (event) => this.onPanelKey(event));

    this.live = h("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true" });
    const root = h("div", { class: "root", lang: this.options.language, "data-position": this.options.position },
      this.launcher, this.panel, this.live);

    if (supportsAdoptedSheets()) {
      sheet ??= new CSSStyleSheet();
      sheet.replaceSync(css);
      this.shadow.adoptedStyleSheets = [sheet];
      this.shadow.replaceChildren(root);
    } else {
      this.shadow.replaceChildren(h("style", {}, css), root);
    }
  }

  private teardown(): void {
    window.removeEventListener("pagehide", this.onPageHide);
    window.clearInterval(this.retryTicker);
    window.cancelAnimationFrame(this.renderFrame);
    this.renderFrame = 0;
    this.connection?.stop();
    this.store?.saveNow();
    this.rendered.clear();
    this.pendingRender.clear();
    this.inflight = null;
  }

  private readonly onPageHide = () => this.store?.saveNow();

  private submitInput(): void {
    const text = this.input.value;
    if (!text.trim()) {
      this.announce(this.t("errorEmpty"));
      return;
    }
    this.input.value = "";
    this.autoGrow();
    this.send(text);
  }

  private autoGrow(): void {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight + 2, 160)}px`;
  }

  /** Tab and Shift+Tab cycle inside the open window; Escape closes it. */
  private onPanelKey(event: KeyboardEvent): void {
    if (event.key === "Escape" && !event.isComposing) {
      event.preventDefault();
      event.stopPropagation();
      this.close();
      return;
    }
    if (event.key !== "Tab") return;
    const focusable = Array.from(this.panel.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
      (el) => !el.closest("[hidden]") && el.getClientRects().length > 0,
    );
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const active = this.shadow.activeElement;
    if (event.shiftKey && (active === first || active === this.panel)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  }

  // --- protocol ------------------------------------------------------------------------------------------

  /** Send the next queued question (one at a time) and unconfirmed feedback. */
  private pump(): void {
    if (this.connection.state !== "online") return;
    const language = this.language;
    const control = this.control === "handoff_request" ? { v: PROTOCOL_VERSION, type: this.control, language } as const
      : this.control && { v: PROTOCOL_VERSION, type: this.control } as const;
    if (control && this.connection.send(control)) this.control = null;
    if (this.callbackFields && this.connection.send({ v: PROTOCOL_VERSION, type: "callback_request", consent: true, language, ...this.callbackFields })) {
      this.callbackFields = null;
    }
    const conversationId = this.store.state.conversationId ?? undefined;
    for (const entry of this.store.state.entries) {
      if (entry.kind === "bot" && entry.feedback && !entry.feedback.acked && !this.feedbackInFlight.has(entry.id)) {
        this.sendFeedback(entry);
      }
    }
    if (this.inflight) return;
    const next = this.store.state.entries.find((e): e is UserEntry => e.kind === "user" && e.status === "queued");
    if (!next) return;
    const sent = this.connection.send({
      v: PROTOCOL_VERSION, type: "user_message", text: next.text, conversation_id: conversationId, client_message_id: next.id,
    });
    if (!sent) return;
    next.status = "sent";
    this.inflight = next.id;
    this.queuePosition = null;
    this.store.save();
    this.renderEntry(next);
    this.updateProgress();
  }

  private onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "ready": {
        const state = this.store.state;
        // Another id than asked for: the server did not take the resume token. What was with staff is over.
        if (state.conversationId && state.conversationId !== message.conversation_id) this.resetHandoff();
        state.conversationId = message.conversation_id;
        // The token opens this conversation again after a reconnect (its history, a handoff under way).
        if (message.resume_token) state.resumeToken = message.resume_token;
        this.requeue();
        this.store.save();
        this.pump();
        break;
      }
      case "started": {
        const id = message.client_message_id ?? this.inflight;
        if (!id || id !== this.inflight) break;
        const bot = this.store.botFor(id);
        Object.assign(bot, { text: "", outcome: null, citations: [], complete: false, interrupted: false });
        this.renderEntry(bot);
        this.updateProgress();
        break;
      }
      case "queued": {
        this.queuePosition = message.position;
        this.updateProgress();
        this.announce(this.t("queued", { position: message.position }));
        break;
      }
      case "delta": {
        const bot = this.inflight ? this.store.bot(this.inflight) : undefined;
        if (!bot || bot.complete) break;
        bot.text += message.text;
        this.queuePosition = null;
        this.store.save();
        this.scheduleRender(bot);
        this.updateProgress();
        break;
      }
      case "final": {
        const id = message.client_message_id ?? this.inflight;
        const user = id ? this.store.user(id) : undefined;
        if (!id || !user) break;
        const answer = message.answer;
        const bot = this.store.botFor(id);
        Object.assign(bot, {
          text: answer.text,
          outcome: answer.outcome,
          citations: (answer.citations ?? []).map((c) => citationOf(c as unknown as Citation & Record<string, unknown>)).filter((c): c is Citation => c !== null),
          lang: answer.language || null,
          complete: true,
          interrupted: false,
        });
        user.status = "answered";
        user.lang = answer.language || user.lang;
        if (this.inflight === id) this.inflight = null;
        this.queuePosition = null;
        this.store.save();
        const stick = this.nearEnd();
        this.renderEntry(user);
        this.renderEntry(bot);
        this.updateProgress();
        if (stick) this.reveal(this.rendered.get(bot.id + ":bot"));
        this.announce(this.t("answerFrom", { text: plainText(answer.text) }));
        this.pump();
        break;
      }
      case "error": {
        const text = this.errorText(message.code, message.message);
        if (/^(consent_required|invalid_contact)$/.test(message.code) && this.callback) {
          this.callback.fail(text, message.code);
          break;
        }
        if (/^(forbidden|not_in_handoff)$/.test(message.code)) {
          // Not (or no longer) with staff: the conversation's questions go to SiWi again.
          this.resetHandoff();
          if (message.code === "not_in_handoff") this.announce(text);
          break;
        }
        const user = this.inflight ? this.store.user(this.inflight) : undefined;
        if (user) {
          user.status = "failed";
          user.error = text;
          const bot = this.store.bot(user.id);
          if (bot && !bot.complete) {
            this.store.remove(bot);
            this.rendered.get(bot.id + ":bot")?.remove();
            this.rendered.delete(bot.id + ":bot");
          }
          this.inflight = null;
          this.queuePosition = null;
          this.store.save();
          this.renderEntry(user);
          this.updateProgress();
          this.pump();
        } else {
          warn(`server error ${message.code}: ${message.message}`);
        }
        this.announce(text);
        break;
      }
      case "delivered": {
        // The conversation is with a person (issue 7): the question went to them, no bot answer follows.
        this.seen(message.seq);
        const user = message.client_message_id ? this.store.user(message.client_message_id) : undefined;
        if (!user || user.id !== this.inflight) break;
        user.status = "answered";
        const bot = this.store.bot(user.id);
        if (bot && !bot.text) {
          this.store.remove(bot);
          this.rendered.get(bot.id + ":bot")?.remove();
          this.rendered.delete(bot.id + ":bot");
        }
        this.inflight = null;
        this.store.save();
        this.renderEntry(user);
        this.updateProgress();
        this.pump();
        break;
      }
      case "handoff": {
        this.onHandoff(message);
        break;
      }
      case "staff_message": {
        this.seen(message.seq);
        const id = "s" + message.seq;
        if (this.store.state.entries.some((e) => e.id === id)) break; // came again after a reconnect
        const name = message.staff_name || this.t("staffFallback");
        this.addEntry({ kind: "staff", id, text: message.text, name: message.staff_name, lang: this.language },
          this.t("staffSaid", { name, text: plainText(message.text) }));
        break;
      }
      case "callback_received": {
        const info = this.store.state.handoff;
        this.callback = null;
        if (info) this.setHandoff({ ...info, received: message.text });
        this.announce(message.text);
        break;
      }
      case "feedback_ack": {
        const id = message.client_message_id;
        const outstanding = (this.feedbackInFlight.get(id) ?? 1) - 1;
        if (outstanding > 0) {
          this.feedbackInFlight.set(id, outstanding);
          break;
        }
        this.feedbackInFlight.delete(id);
        const bot = this.store.bot(id);
        if (bot?.feedback && !bot.feedback.acked) {
          bot.feedback.acked = true;
          this.store.save();
          this.updateFeedback(bot);
        }
        break;
      }
    }
  }

  /** Where the conversation with a person stands: the card, the steps in the conversation, announcements. */
  private onHandoff(frame: HandoffFrame): void {
    const state = this.store.state;
    if (frame.resume_token) state.resumeToken = frame.resume_token;
    const before = state.handoff;
    const lang = this.language;
    const step =
      (frame.state === "assigned" && (before?.state !== "assigned" || before.staffName !== frame.staff_name)) ||
      (frame.state === "closed" && (before?.state === "waiting" || before?.state === "assigned"));
    if (step) this.addEntry({ kind: "event", id: newId(), text: frame.text, lang }, frame.text);
    else if (frame.state !== "closed" && before?.text !== frame.text) this.announce(frame.text);
    this.setHandoff(frame.state === "closed" ? null : {
      state: frame.state, text: frame.text, staffName: frame.staff_name, contact: frame.contact,
      callback: frame.callback_offered, lang,
      received: before?.state === frame.state ? before.received : undefined,
    });
    this.scrollToEnd(true);
  }

  private setHandoff(info: ConversationStore["state"]["handoff"]): void {
    this.store.state.handoff = info;
    if (!info?.callback || info.received) this.callback = null;
    this.store.save();
    this.updateHandoff();
  }

  /** Forget the handoff (another conversation now, or it ended while we were away). The resume token belongs
   * to the conversation, not to the handoff: the server's ready frame sets it. */
  private resetHandoff(): void {
    Object.assign(this.store.state, { lastSeq: 0 });
    this.setHandoff(null);
  }

  private seen(seq: number): void {
    if (Number.isInteger(seq)) this.store.state.lastSeq = Math.max(this.store.state.lastSeq, seq);
    this.store.save();
  }

  /** A message from staff or a step of the handoff: shown at the end, announced once. */
  private addEntry(entry: StaffEntry | EventEntry, announcement: string): void {
    this.store.state.entries.push(entry);
    this.store.save();
    const stick = this.nearEnd();
    this.renderEntry(entry);
    if (stick) this.scrollToEnd(true);
    this.announce(announcement);
  }

  /** The toolbar's button, the input's label and the status card follow the handoff's state. */
  private updateHandoff(): void {
    const t = this.t;
    const info = this.store.state.handoff;
    const withStaff = this.withStaff;
    (this.handoffButton.lastChild as HTMLElement).textContent = t(withStaff ? "handoffEnd" : "handoffButton");
    this.handoffButton.classList.toggle("end", withStaff);
    this.inputLabel.textContent = t(withStaff ? "messageLabel" : "inputLabel");
    this.input.placeholder = t(withStaff ? "messagePlaceholder" : "placeholder");
    if (info?.callback && !info.received && !this.callback) {
      this.callback = callbackForm(t, this.options.privacyUrl, (fields) => {
        this.callbackFields = fields;
        this.connection.start();
        this.pump();
      }, (text) => this.announce(text));
    }
    this.status.update(info, this.options.language, this.callback?.node ?? null);
    this.panel.dataset.person = info?.state ?? "none";
  }

  /** A new connection knows nothing of the last one's question: send it again, replace its partial answer. */
  private requeue(): void {
    this.inflight = null;
    this.queuePosition = null;
    this.feedbackInFlight.clear();
    for (const entry of this.store.state.entries) {
      if (entry.kind === "user" && entry.status === "sent") {
        entry.status = "queued";
        this.renderEntry(entry);
      } else if (entry.kind === "bot" && !entry.complete && !entry.interrupted) {
        entry.interrupted = true;
        this.renderEntry(entry);
      }
    }
    this.updateProgress();
  }

  private onConnectionState(state: ConnectionState, retryAt: number | null): void {
    window.clearInterval(this.retryTicker);
    this.countdown.textContent = "";
    // Between the attempts of a reconnect the banner stays; the status text changes only when the state does,
    // so that screen readers hear it once.
    const offline = state === "offline" || (state === "connecting" && this.wasOffline);
    this.connectionBar.classList.toggle("offline", offline);
    this.retryButton.hidden = state !== "offline";
    if (offline) {
      if (!this.wasOffline) this.connectionText.textContent = this.t("offline");
      this.wasOffline = true;
      if (state === "offline") {
        this.requeue();
        const tick = () => {
          const seconds = Math.max(0, Math.ceil(((retryAt ?? Date.now()) - Date.now()) / 1000));
          this.countdown.textContent = this.t("retryIn", { seconds });
        };
        tick();
        this.retryTicker = window.setInterval(tick, 1000);
      }
    } else if (state === "online") {
      if (this.wasOffline) {
        this.connectionText.textContent = this.t("online");
        window.setTimeout(() => {
          if (this.connection.state === "online") this.connectionText.textContent = "";
        }, 4000);
      }
      this.wasOffline = false;
    } else if (state === "idle") {
      this.connectionText.textContent = "";
      this.wasOffline = false;
    }
    this.panel.dataset.connection = state;
    // Queued questions say whether they wait for the connection.
    for (const entry of this.store.state.entries) if (entry.kind === "user" && entry.status === "queued") this.renderEntry(entry);
  }

  private errorText(code: string, fallback: string): string {
    switch (code) {
      case "busy": return this.t("errorBusy");
      case "internal_error": return this.t("errorInternal");
      case "message_too_long": return this.t("errorTooLong", { max: MAX_MESSAGE_CHARS });
      case "empty_message": return this.t("errorEmpty");
      case "rate_limited": return this.t("errorRateLimited");
      case "too_many_waiting": return this.t("errorTooManyWaiting");
      case "too_many_connections": return this.t("errorTooManyConnections");
      case "idle_timeout": return this.t("errorIdle");
      case "invalid_text": return this.t("errorInvalidText");
      default: return fallback || this.t("errorOther");
    }
  }

  // --- rendering -----------------------------------------------------------------------------------------

  private scheduleRender(entry: Entry): void {
    this.pendingRender.add(entry.id + ":" + entry.kind);
    if (this.renderFrame) return;
    this.renderFrame = window.requestAnimationFrame(() => {
      this.renderFrame = 0;
      const stick = this.nearEnd();
      for (const key of this.pendingRender) {
        const [id, kind] = key.split(":");
        const entry = kind === "user" ? this.store.user(id) : this.store.bot(id);
        if (entry) this.renderEntry(entry);
      }
      this.pendingRender.clear();
      if (stick) this.scrollToEnd(true);
    });
  }

  private renderEntry(entry: Entry): void {
    const key = entry.id + ":" + entry.kind;
    const node = entry.kind === "user" ? this.userNode(entry) : entry.kind === "bot" ? this.botNode(entry) : this.noteNode(entry);
    const old = this.rendered.get(key);
    const hadFocus = old?.contains(this.shadow.activeElement) ?? false;
    if (old) {
      old.replaceWith(node);
    } else {
      // Keep the order of the entries.
      const index = this.store.state.entries.indexOf(entry);
      const after = this.store.state.entries.slice(index + 1).map((e) => this.rendered.get(e.id + ":" + e.kind)).find(Boolean);
      this.messages.insertBefore(node, after ?? null);
    }
    this.rendered.set(key, node);
    if (hadFocus) (node.querySelector<HTMLElement>(FOCUSABLE) ?? this.input).focus();
  }

  private userNode(entry: UserEntry): HTMLLIElement {
    const t = this.t;
    let status: Node | null = null;
    if (entry.status === "queued" && this.connection.state !== "online") {
      status = h("p", { class: "msg-status" }, t("waitingToSend"));
    } else if (entry.status === "failed") {
      status = h("p", { class: "msg-status error" }, entry.error ?? t("errorOther"), " ",
        h("button", { type: "button", class: "text-button", onclick: () => this.retry(entry) }, t("retry")));
    }
    return h("li", { class: `msg user ${entry.status}`, "data-id": entry.id },
      srOnly(t("you") + ": "),
      h("div", { class: "bubble", lang: entry.lang ?? this.options.language }, entry.text),
      status,
    );
  }

  /** A message from a member of staff (named, set apart from SiWi's answers), or a step of the handoff. */
  private noteNode(entry: StaffEntry | EventEntry): HTMLLIElement {
    const lang = entry.lang ?? this.options.language;
    if (entry.kind === "event") return h("li", { class: "msg event", "data-id": entry.id }, h("p", { lang }, entry.text));
    return h("li", { class: "msg staff", "data-id": entry.id },
      h("p", { class: "who" }, icon("person"), entry.name || this.t("staffFallback"), srOnly(":")),
      h("div", { class: "bubble content", lang }, renderMarkdown(entry.text, { newWindow: this.t("newWindow") })));
  }

  private retry(entry: UserEntry): void {
    entry.status = "queued";
    entry.error = undefined;
    // Move the question to the end: it is asked now.
    this.store.remove(entry);
    this.rendered.get(entry.id + ":user")?.remove();
    this.rendered.delete(entry.id + ":user");
    this.store.state.entries.push(entry);
    this.store.save();
    this.renderEntry(entry);
    this.input.focus();
    this.connection.start();
    this.pump();
  }

  private botNode(entry: BotEntry): HTMLLIElement {
    const t = this.t;
    const citations = new Map(entry.citations.map((c) => [c.number, c]));
    const sourceIds = new Map(entry.citations.map((c) => [c.number, uid("source")]));
    const renderText = (text: string) =>
      renderMarkdown(text, {
        newWindow: t("newWindow"),
        marker: (numbers, written) => {
          if (!entry.complete || !numbers.every((n) => citations.has(n))) return h("sup", { class: "marker-text" }, written);
          return h("span", { class: "markers" }, numbers.map((n) =>
            h("button", {
              type: "button", class: "marker", "aria-label": t("source", { number: n, title: citations.get(n)?.title ?? "" }),
              onclick: () => this.showSource(sourceIds.get(n) as string),
            }, String(n))));
        },
      });

    // The answer's text carries the answer's language; the widget's own labels around it the widget's.
    const content = (text: string) => h("div", { class: "content", lang: entry.lang ?? this.options.language }, renderText(text));
    const bubble = h("div", { class: "bubble" });
    if (entry.outcome === "handoff") {
      bubble.appendChild(renderHandoff(handoffState(entry.text), t, content));
    } else if (entry.outcome === "emergency") {
      const text = content(entry.text);
      linkPhoneNumbers(text);
      append(bubble, h("p", { class: "card-title" }, icon("alert"), t("emergencyTitle")), text);
    } else {
      bubble.appendChild(content(entry.text));
    }
    if (entry.outcome === "no_answer") {
      bubble.appendChild(h("p", { class: "offer" },
        h("button", { type: "button", class: "text-button", onclick: () => this.requestPerson() }, icon("person"), t("handoffButton"))));
    }
    if (entry.interrupted && !entry.complete) bubble.appendChild(h("p", { class: "msg-status" }, t("interrupted")));

    const node = h("li", {
      class: `msg bot ${entry.outcome ?? "streaming"}${entry.interrupted && !entry.complete ? " interrupted" : ""}`,
      "data-id": entry.id, "aria-busy": entry.complete ? null : "true",
    }, srOnly(t("bot") + ": "), bubble);
    if (entry.complete && entry.citations.length) node.appendChild(this.sourcesNode(entry, sourceIds));
    if (entry.complete && (entry.outcome === "answered" || entry.outcome === "no_answer")) node.appendChild(this.feedbackNode(entry));
    return node;
  }

  private sourcesNode(entry: BotEntry, ids: Map<number, string>): HTMLElement {
    const t = this.t;
    const titleId = uid("sources");
    const list = h("ol", { class: "sources", "aria-labelledby": titleId });
    for (const citation of [...entry.citations].sort((a, b) => a.number - b.number)) {
      const id = ids.get(citation.number) as string;
      const snippetId = id + "-snippet";
      const href = safeHttpUrl(citation.url);
      const label = citation.title || citation.location;
      const describedBy = citation.snippet ? snippetId : null;
      const title = href
        ? h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "source-link", "aria-describedby": describedBy },
          label, srOnly(" " + t("newWindow")))
        : h("span", { class: "source-link" }, label);
      const item = h("li", { class: "source", id, "data-number": citation.number },
        h("span", { class: "number", "aria-hidden": "true" }, String(citation.number)),
        h("div", { class: "source-body" }, srOnly(t("source", { number: citation.number, title: "" }).replace(/\s+$/, "") + " "), title),
      );
      if (citation.snippet) {
        const toggle = h("button", { type: "button", class: "text-button snippet-toggle", "aria-expanded": "false", "aria-controls": snippetId }, t("showSnippet"));
        const snippet = h("blockquote", { class: "snippet", id: snippetId },
          srOnly(t("snippetLabel") + ": "), "„" + citation.snippet.replace(/^\s*[-*•]\s+/, "").trim() + "“");
        toggle.addEventListener("click", () => {
          const expanded = !item.classList.contains("expanded");
          item.classList.toggle("expanded", expanded);
          toggle.setAttribute("aria-expanded", String(expanded));
          toggle.textContent = expanded ? t("hideSnippet") : t("showSnippet");
        });
        // The snippet shows while the source has focus (keyboard) and stays open once tapped.
        item.addEventListener("focusin", () => item.classList.add("peek"));
        item.addEventListener("focusout", (event) => {
          if (!item.contains(event.relatedTarget as Node | null)) item.classList.remove("peek");
        });
        item.lastElementChild?.append(toggle, snippet);
      }
      list.appendChild(item);
    }
    return h("div", { class: "sources-box" }, h("p", { class: "sources-title", id: titleId }, t("sources")), list);
  }

  /** A marker was activated: open that source's snippet and move there. */
  private showSource(id: string): void {
    const item = this.shadow.getElementById(id);
    if (!item) return;
    item.classList.add("expanded");
    const toggle = item.querySelector(".snippet-toggle");
    toggle?.setAttribute("aria-expanded", "true");
    if (toggle) toggle.textContent = this.t("hideSnippet");
    item.querySelector<HTMLElement>(".source-link")?.focus({ preventScroll: true });
    this.reveal(item);
  }

  private feedbackNode(entry: BotEntry): HTMLElement {
    const t = this.t;
    const questionId = uid("fb");
    const commentId = uid("comment");
    const thumb = (rating: Rating) =>
      h("button", {
        type: "button", class: `icon-button thumb ${rating}`, "aria-pressed": String(entry.feedback?.rating === rating),
        "data-rating": rating, onclick: () => this.rate(entry, rating),
      }, icon(rating), srOnly(rating === "up" ? t("feedbackUp") : t("feedbackDown")));
    const commentBox = h("textarea", { id: commentId, rows: 2, maxlength: MAX_COMMENT_CHARS });
    const form = h("form", {
      class: "comment", hidden: true,
      onsubmit: (event: Event) => {
        event.preventDefault();
        const comment = commentBox.value.trim();
        if (!comment || !entry.feedback) return;
        entry.feedback = { ...entry.feedback, comment, acked: false };
        this.store.save();
        form.hidden = true;
        this.updateFeedback(entry);
        (node.querySelector<HTMLElement>(".thumb[aria-pressed=true]") ?? this.input).focus();
        this.sendFeedback(entry);
      },
    }, h("label", { for: commentId }, t("feedbackCommentLabel")), commentBox,
      h("button", { type: "submit", class: "small-button" }, t("feedbackCommentSend")));
    const addComment = h("button", {
      type: "button", class: "text-button add-comment", hidden: true,
      onclick: () => {
        form.hidden = false;
        addComment.hidden = true;
        commentBox.focus();
      },
    }, t("feedbackAddComment"));
    const node = h("div", { class: "feedback", role: "group", "aria-labelledby": questionId },
      h("span", { id: questionId, class: "feedback-question" }, t("feedbackQuestion")),
      h("span", { class: "thumbs" }, thumb("up"), thumb("down")),
      h("p", { class: "feedback-status" }),
      addComment, form);
    this.fillFeedback(entry, node);
    return node;
  }

  private rate(entry: BotEntry, rating: Rating): void {
    entry.feedback = { rating, comment: entry.feedback?.comment ?? null, acked: false };
    this.store.save();
    this.updateFeedback(entry);
    this.sendFeedback(entry);
  }

  /** Send the answer's feedback as it is now; unsent feedback goes out with the next pump after a reconnect. */
  private sendFeedback(entry: BotEntry): void {
    if (!entry.feedback || this.connection.state !== "online") return;
    const { rating, comment } = entry.feedback;
    const sent = this.connection.send({
      v: PROTOCOL_VERSION, type: "feedback", client_message_id: entry.id,
      conversation_id: this.store.state.conversationId ?? undefined, rating, ...(comment ? { comment } : {}),
    });
    if (sent) this.feedbackInFlight.set(entry.id, (this.feedbackInFlight.get(entry.id) ?? 0) + 1);
  }

  private updateFeedback(entry: BotEntry): void {
    const node = this.rendered.get(entry.id + ":bot")?.querySelector<HTMLElement>(".feedback");
    if (node) this.fillFeedback(entry, node);
    if (entry.feedback) {
      const key = entry.feedback.acked ? (entry.feedback.comment ? "feedbackCommentThanks" : "feedbackThanks") : null;
      if (key) this.announce(this.t(key));
    }
  }

  private fillFeedback(entry: BotEntry, node: HTMLElement): void {
    const feedback = entry.feedback;
    for (const button of node.querySelectorAll<HTMLButtonElement>(".thumb")) {
      button.setAttribute("aria-pressed", String(feedback?.rating === button.dataset.rating));
    }
    const status = node.querySelector(".feedback-status") as HTMLElement;
    const addComment = node.querySelector(".add-comment") as HTMLButtonElement;
    const form = node.querySelector("form") as HTMLFormElement;
    if (!feedback) {
      status.textContent = "";
    } else if (!feedback.acked) {
      status.textContent = this.connection.state === "online" ? "" : this.t("feedbackPending");
    } else {
      status.textContent = feedback.comment ? this.t("feedbackCommentThanks") : this.t("feedbackThanks");
    }
    addComment.hidden = !feedback || !!feedback.comment || !form.hidden;
    node.dataset.state = !feedback ? "none" : feedback.acked ? "acked" : "pending";
  }

  private updateProgress(): void {
    const bot = this.inflight ? this.store.bot(this.inflight) : undefined;
    const busy = this.inflight !== null && !this.withStaff;
    this.progress.hidden = !busy;
    this.panel.dataset.busy = String(busy);
    const text = this.progress.querySelector(".progress-text") as HTMLElement;
    text.textContent = this.queuePosition
      ? this.t("queued", { position: this.queuePosition })
      : bot?.text ? this.t("checking") : this.t("thinking");
    if (busy) this.scrollToEnd();
  }

  /** The conversation is scrolled to (nearly) its end: new content may scroll it further. */
  private nearEnd(): boolean {
    const s = this.scroller;
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  private scrollToEnd(force = false): void {
    const s = this.scroller;
    if (s && (force || this.nearEnd())) s.scrollTop = s.scrollHeight;
  }

  /** Scroll the conversation (never the host page) so that a node is in view, its start first. */
  private reveal(node: HTMLElement | undefined): void {
    const s = this.scroller;
    if (!node || !s) return;
    let top = 0;
    for (let el: HTMLElement | null = node; el && el !== s; el = el.offsetParent as HTMLElement | null) top += el.offsetTop;
    const bottom = top + node.offsetHeight + 12;
    top -= 12;
    const target = bottom - top > s.clientHeight ? top : bottom > s.scrollTop + s.clientHeight ? bottom - s.clientHeight : top < s.scrollTop ? top : s.scrollTop;
    s.scrollTo({ top: target, behavior: reducedMotion() ? "auto" : "smooth" });
  }

  /** Tell screen readers about a complete message, once (the live region is polite and atomic). */
  private announce(text: string): void {
    this.live.textContent = "";
    window.setTimeout(() => {
      this.live.textContent = text;
    }, 100);
  }
}

function newId(): string {
  const random = typeof crypto !== "undefined" && "randomUUID" in crypto ? crypto.randomUUID() : Math.random().toString(36).slice(2) + Date.now().toString(36);
  return "m-" + random.replace(/-/g, "").slice(0, 24);
}

function reducedMotion(): boolean {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

function supportsAdoptedSheets(): boolean {
  return "adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype;
}

/** Warn the integrator when chosen colours make the launcher or the citizen's messages hard to read. */
function checkContrast(host: HTMLElement): void {
  const style = getComputedStyle(host);
  const accent = parseColor(style.getPropertyValue("--siwi-accent"));
  const text = parseColor(style.getPropertyValue("--siwi-accent-text"));
  if (accent && text) {
    const ratio = contrast(accent, text);
    if (ratio < 4.5) warn(`accent and accentText colours have a contrast of ${ratio.toFixed(2)}:1; WCAG AA needs 4.5:1`);
  }
}

function parseColor(value: string): number[] | null {
  if (!value.trim()) return null;
  const probe = document.createElement("span");
  probe.style.color = value.trim();
  document.body.appendChild(probe);
  const match = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(getComputedStyle(probe).color);
  probe.remove();
  return match ? match.slice(1, 4).map(Number) : null;
}

function contrast(a: number[], b: number[]): number {
  const luminance = (rgb: number[]) => {
    const [r, g, b2] = rgb.map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b2;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
