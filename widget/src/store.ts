// The conversation as the widget shows it, kept in sessionStorage so that it survives navigation between
// pages of the same site (and nothing longer: sessionStorage ends with the tab). One key per server.

import type { Citation, Contact, HandoffPhase, Outcome, Rating } from "./protocol";

export interface UserEntry {
  kind: "user";
  /** The client_message_id: ties the question to its answer and to a resend after a reconnect. */
  id: string;
  text: string;
  /** queued: not sent yet (offline, or waiting for the previous answer); sent: the server has it. */
  status: "queued" | "sent" | "answered" | "failed";
  lang: string | null;
  error?: string;
}

export interface Feedback {
  rating: Rating;
  comment: string | null;
  /** The server confirmed this rating/comment. */
  acked: boolean;
}

export interface BotEntry {
  kind: "bot";
  /** The client_message_id of the question it answers. */
  id: string;
  text: string;
  outcome: Outcome | null;
  citations: Citation[];
  lang: string | null;
  /** false while deltas arrive; true once the final message came. */
  complete: boolean;
  /** The connection broke while this answer streamed; it is being requested again. */
  interrupted?: boolean;
  feedback?: Feedback;
}

/** What a member of staff wrote (id: "s" + seq, so that a message that comes again is kept once). */
export interface StaffEntry {
  kind: "staff";
  id: string;
  text: string;
  name: string | null;
  lang: string | null;
}

/** A step of the handoff in the conversation: a person took over, the conversation with staff ended. */
export interface EventEntry {
  kind: "event";
  id: string;
  text: string;
  lang: string | null;
}

export type Entry = UserEntry | BotEntry | StaffEntry | EventEntry;

/** Where the conversation with a person stands now (the last `handoff` frame), shown as a card. */
export interface HandoffInfo {
  state: HandoffPhase;
  text: string;
  staffName: string | null;
  contact: Contact | null;
  callback: boolean;
  lang: string | null;
  /** The server's confirmation of a callback request. */
  received?: string;
}

export interface ConversationState {
  conversationId: string | null;
  /** Reconnecting to a conversation that went to staff needs this token … */
  resumeToken: string | null;
  /** … and the highest `seq` seen, so that the server sends only what was missed. */
  lastSeq: number;
  handoff: HandoffInfo | null;
  entries: Entry[];
  open: boolean;
}

const VERSION = 1;

export class ConversationStore {
  state: ConversationState;
  private saveScheduled = false;

  constructor(private readonly key: string) {
    this.state = this.load() ?? ConversationStore.empty();
    // Whatever was on the way when the last page closed is sent again: its answer was lost with the page.
    for (const entry of this.state.entries) {
      if (entry.kind === "user" && entry.status === "sent") entry.status = "queued";
      if (entry.kind === "bot" && !entry.complete) entry.interrupted = true;
    }
  }

  static empty(): ConversationState {
    return { conversationId: null, resumeToken: null, lastSeq: 0, handoff: null, entries: [], open: false };
  }

  user(id: string): UserEntry | undefined {
    return this.state.entries.find((e): e is UserEntry => e.kind === "user" && e.id === id);
  }

  bot(id: string): BotEntry | undefined {
    return this.state.entries.find((e): e is BotEntry => e.kind === "bot" && e.id === id);
  }

  /** The bot entry for a question, placed right after the question. */
  botFor(id: string): BotEntry {
    let entry = this.bot(id);
    if (!entry) {
      entry = { kind: "bot", id, text: "", outcome: null, citations: [], lang: null, complete: false };
      const question = this.state.entries.findIndex((e) => e.kind === "user" && e.id === id);
      this.state.entries.splice(question < 0 ? this.state.entries.length : question + 1, 0, entry);
    }
    return entry;
  }

  remove(entry: Entry): void {
    this.state.entries = this.state.entries.filter((e) => e !== entry);
  }

  clear(): void {
    const open = this.state.open;
    this.state = ConversationStore.empty();
    this.state.open = open;
    this.save();
  }

  /** Save soon (many changes in one task are one write). */
  save(): void {
    if (this.saveScheduled) return;
    this.saveScheduled = true;
    queueMicrotask(() => {
      this.saveScheduled = false;
      this.saveNow();
    });
  }

  saveNow(): void {
    try {
      sessionStorage.setItem(this.key, JSON.stringify({ v: VERSION, ...this.state }));
    } catch {
      // Storage disabled or full: the conversation lives as long as the page.
    }
  }

  private load(): ConversationState | null {
    try {
      const raw = sessionStorage.getItem(this.key);
      if (!raw) return null;
      const data = JSON.parse(raw);
      if (data?.v !== VERSION || !Array.isArray(data.entries)) return null;
      return {
        conversationId: typeof data.conversationId === "string" ? data.conversationId : null,
        resumeToken: typeof data.resumeToken === "string" ? data.resumeToken : null,
        lastSeq: Number.isInteger(data.lastSeq) ? data.lastSeq : 0,
        handoff: data.handoff?.state ? data.handoff : null,
        entries: data.entries.filter((e: Entry) => /^(user|bot|staff|event)$/.test(e?.kind) && typeof e.id === "string"),
        open: data.open === true,
      };
    } catch {
      return null;
    }
  }
}
