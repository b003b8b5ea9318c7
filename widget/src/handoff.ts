// Handing the conversation to a person. Two views:
// - the bot's answer with the outcome `handoff` (the citizen asked in words): a card with the contact
//   options that the answer's text names (`handoffState`, `renderHandoff`);
// - the live handoff (`handoff` frames, docs/protocol.md): a status card at the end of the conversation while
//   the citizen waits (queue position and the server's honest estimate) or nobody is on duty (contact
//   options and the callback form). That a person took over, and that the conversation with staff ended,
//   are steps in the conversation itself (element.ts).

import { h, icon, srOnly, uid, type Child } from "./dom";
import type { StringKey, Translate } from "./i18n";
import { safeHttpUrl } from "./options";
import type { Contact } from "./protocol";
import type { HandoffInfo } from "./store";

export interface ContactOptions {
  phone: string | null;
  hours: string | null;
  email: string | null;
}

export type HandoffState = {
  phase: "contact";
  /** What the server said before the contact details. */
  intro: string;
  contact: ContactOptions;
};

const PHONE = /(?:Telefon|Tel\.|Phone|Telephone)\s*:\s*(\+?[\dxX][\dxX ()/-]*[\dxX])(?:\s*\(([^)]*)\))?/i;
const EMAIL = /(?:E-?Mail\s*:\s*)?([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)/i;

/** The contact options in the server's handoff text ("… Telefon: 0271 333-0 (Mo–Fr 8–16 Uhr), E-Mail: …"). */
export function handoffState(text: string): HandoffState {
  const phone = PHONE.exec(text);
  const email = EMAIL.exec(text);
  const cut = Math.min(phone?.index ?? text.length, email?.index ?? text.length);
  return {
    phase: "contact",
    intro: text.slice(0, cut).replace(/[\s,:;–-]+$/, "").trim(),
    contact: { phone: phone?.[1].trim() ?? null, hours: phone?.[2]?.trim() || null, email: email?.[1] ?? null },
  };
}

/** A number a phone can dial: digits with an optional leading +, at least three of them. */
export function dialable(phone: string): string | null {
  const digits = phone.replace(/[\s()/-]/g, "");
  return /^\+?\d{3,}$/.test(digits) ? digits : null;
}

/** Turn the phone numbers in a fixed text (the emergency numbers) into tel: links: one tap to call. */
export function linkPhoneNumbers(root: Node): void {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts: Text[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) texts.push(node as Text);
  for (const text of texts) {
    const value = text.data;
    const parts: (string | Node)[] = [];
    let last = 0;
    for (const match of value.matchAll(/\+?\d[\d /-]{1,18}\d/g)) {
      const index = match.index ?? 0;
      const number = dialable(match[0]);
      if (!number || /[\d.,:]/.test(value[index - 1] ?? "") || /[\d.,:]\d/.test(value.slice(index + match[0].length, index + match[0].length + 2))) continue;
      parts.push(value.slice(last, index), h("a", { href: `tel:${number}` }, match[0]));
      last = index + match[0].length;
    }
    if (parts.length) {
      parts.push(value.slice(last));
      text.replaceWith(...parts);
    }
  }
}

/** The ways to reach the administration: a tel: link, a mailto: link, the hours, online appointments. */
function contactList(contact: Partial<Contact>, t: Translate): Child[] {
  const { phone, hours, email, appointment_url } = contact;
  const items: Child[] = [];
  if (phone) {
    const number = dialable(phone);
    items.push(h("li", {}, icon("phone"),
      number ? h("a", { href: `tel:${number}` }, t("handoffPhone", { phone })) : h("span", {}, t("handoffPhoneText", { phone })),
      hours ? h("span", { class: "hours" }, t("handoffHours", { hours })) : null));
  }
  if (email) items.push(h("li", {}, icon("mail"), h("a", { href: `mailto:${email}` }, t("handoffEmail", { email }))));
  const appointments = safeHttpUrl(appointment_url);
  if (appointments) {
    items.push(h("li", {}, icon("chat"),
      h("a", { href: appointments, target: "_blank", rel: "noopener noreferrer" }, t("handoffAppointment"), srOnly(" " + t("newWindow")))));
  }
  return items.length ? [h("p", { class: "contact-title" }, t("handoffContact")), h("ul", { class: "contact" }, items)] : [];
}

export function renderHandoff(state: HandoffState, t: Translate, renderText: (text: string) => Node): HTMLElement {
  return h("div", { class: "handoff", "data-handoff": state.phase },
    h("p", { class: "card-title" }, icon("person"), t("handoffTitle")),
    state.intro ? renderText(state.intro) : null,
    contactList(state.contact, t),
  );
}

export interface CallbackFields {
  phone?: string;
  email?: string;
  name?: string;
  message?: string;
}

export interface CallbackForm {
  node: HTMLElement;
  /** The server refused the request: say why and put the focus where the citizen can fix it. */
  fail(text: string, code: string): void;
}

/** "Rückruf anfordern": a button that opens the form (and moves the focus into it). Phone or e-mail is
 * required, name and message are optional, and the consent checkbox starts unticked: nothing is sent
 * until the citizen ticks it. */
export function callbackForm(t: Translate, privacyUrl: string | null, send: (fields: CallbackFields) => void,
                             announce: (text: string) => void): CallbackForm {
  const errorId = uid("cb-error");
  const formId = uid("cb-form");
  const control = (key: StringKey, tag: "input" | "textarea", attributes: Record<string, string | number>) => {
    const id = uid("cb");
    const element = h(tag, { id, name: key, ...attributes });
    return [element, h("p", { class: "field" }, h("label", { for: id }, t(key)), element)] as const;
  };
  const [phone, phoneRow] = control("callbackPhone", "input", { type: "tel", autocomplete: "tel", maxlength: 40 });
  const [email, emailRow] = control("callbackEmail", "input", { type: "email", autocomplete: "email", maxlength: 254 });
  const [name, nameRow] = control("callbackName", "input", { type: "text", autocomplete: "name", maxlength: 120 });
  const [message, messageRow] = control("callbackMessage", "textarea", { rows: 2, maxlength: 2000 });
  const consentId = uid("cb");
  const consent = h("input", { type: "checkbox", id: consentId, name: "consent" });
  const error = h("p", { id: errorId, class: "msg-status error", hidden: true });
  const submit = h("button", { type: "submit", class: "small-button" }, t("callbackSend"));

  const fail = (text: string, target: HTMLElement) => {
    for (const field of [phone, email, consent]) {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
    }
    target.setAttribute("aria-invalid", "true");
    target.setAttribute("aria-describedby", errorId);
    error.textContent = text;
    error.hidden = false;
    submit.textContent = t("callbackSend");
    form.dataset.state = "error";
    target.focus();
    announce(text);
  };

  const form = h("form", {
    id: formId, class: "callback", novalidate: true, hidden: true,
    onsubmit: (event: Event) => {
      event.preventDefault();
      if (form.dataset.state === "sending") return;
      const fields: CallbackFields = {};
      for (const [key, field] of [["phone", phone], ["email", email], ["name", name], ["message", message]] as const) {
        const value = field.value.trim();
        if (value) fields[key] = value;
      }
      if (!fields.phone && !fields.email) return fail(t("callbackNeedContact"), phone);
      if (!consent.checked) return fail(t("callbackNeedConsent"), consent);
      error.hidden = true;
      form.dataset.state = "sending";
      submit.textContent = t("callbackSending");
      send(fields);
    },
  },
    h("p", { class: "callback-hint" }, t("callbackIntro")),
    phoneRow, emailRow, nameRow, messageRow,
    h("p", { class: "consent" }, consent, h("label", { for: consentId }, t("callbackConsent"),
      privacyUrl ? " " : null,
      privacyUrl ? h("a", { href: privacyUrl, target: "_blank", rel: "noopener" }, t("privacyLink"), srOnly(" " + t("newWindow"))) : null)),
    error,
    submit,
  );
  const toggle = h("button", {
    type: "button", class: "small-button callback-open", "aria-expanded": "false", "aria-controls": formId,
    onclick: () => {
      const open = form.hidden;
      form.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (open) phone.focus();
    },
  }, icon("phone"), t("callbackOpen"));
  return {
    node: h("div", { class: "callback-box" }, toggle, form),
    fail: (text, code) => fail(text, code === "consent_required" ? consent : phone.value.trim() || !email.value.trim() ? phone : email),
  };
}

/** The status card (waiting, nobody on duty), or null when there is none to show. Its parts are kept and
 * updated in place, so that a new queue position does not take the focus out of the callback form. */
export class StatusCard {
  readonly node: HTMLElement;
  private readonly title: HTMLElement;
  private readonly text = h("div", { class: "content" });
  private readonly contact = h("div");
  private readonly extra = h("div");

  constructor(private readonly t: Translate) {
    const id = uid("status");
    this.title = h("p", { class: "card-title", id });
    this.node = h("section", { class: "handoff status", hidden: true, "aria-labelledby": id }, this.title, this.text, this.contact, this.extra);
  }

  update(info: HandoffInfo | null, fallbackLang: string, callback: HTMLElement | null): void {
    const t = this.t;
    const shown = info && (info.state === "waiting" || info.state === "offline") ? info : null;
    this.node.hidden = !shown;
    if (!shown) {
      this.extra.replaceChildren();
      return;
    }
    this.node.dataset.handoff = shown.state;
    this.title.replaceChildren(icon("person"), t(shown.state === "waiting" ? "waitingTitle" : "handoffTitle"));
    this.text.lang = shown.lang ?? fallbackLang;
    this.text.replaceChildren(h("p", {}, shown.contact ? handoffState(shown.text).intro : shown.text));
    this.contact.replaceChildren(...contactList(shown.contact ?? {}, t).filter((c): c is Node => !!c));
    const hadFocus = this.extra.contains((this.node.getRootNode() as ShadowRoot).activeElement ?? null);
    if (shown.received) {
      if (this.extra.dataset.received !== shown.received) {
        const done = h("p", { class: "received", tabindex: -1, lang: shown.lang ?? fallbackLang }, shown.received);
        this.extra.replaceChildren(done);
        this.extra.dataset.received = shown.received;
        if (hadFocus) done.focus();
      }
    } else if (callback && shown.callback) {
      delete this.extra.dataset.received;
      if (this.extra.firstChild !== callback) this.extra.replaceChildren(callback);
    } else {
      delete this.extra.dataset.received;
      this.extra.replaceChildren();
    }
  }
}
