// SiWi chat protocol v1 (docs/protocol.md), as far as the widget uses it. The server refuses unknown
// fields in client frames; the widget ignores unknown types and fields in server frames.

export const PROTOCOL_VERSION = 1;

export type Outcome = "answered" | "no_answer" | "handoff" | "emergency";

export interface Citation {
  number: number;
  title: string;
  url: string | null;
  location: string;
  snippet: string;
}

export interface Answer {
  text: string;
  outcome: Outcome;
  citations: Citation[];
  language: string;
}

export type ServerMessage =
  | { type: "ready"; conversation_id: string; resume_token?: string | null }
  | { type: "started"; conversation_id: string; client_message_id: string | null }
  | { type: "queued"; position: number }
  | { type: "delta"; text: string }
  | { type: "final"; conversation_id: string; client_message_id: string | null; answer: Answer }
  | { type: "error"; code: string; message: string }
  | { type: "pong" }
  | { type: "feedback_ack"; client_message_id: string }
  // The live handoff: where the conversation with a person stands, what staff wrote, a message that went to
  // staff instead of the bot, a callback request that arrived.
  | HandoffFrame
  | { type: "staff_message"; seq: number; text: string; staff_name: string | null }
  | { type: "delivered"; seq: number; client_message_id: string | null }
  | { type: "callback_received"; text: string };

export interface Contact {
  phone: string | null;
  email: string | null;
  hours: string | null;
  appointment_url: string | null;
}

export type HandoffPhase = "waiting" | "assigned" | "closed" | "offline";

export interface HandoffFrame {
  type: "handoff";
  state: HandoffPhase;
  text: string;
  position: number | null;
  wait_minutes: number | null;
  staff_name: string | null;
  team: string | null;
  contact: Contact | null;
  callback_offered: boolean;
  resume_token: string | null;
}

export type Rating = "up" | "down";

export type ClientMessage =
  | { v: 1; type: "user_message"; text: string; conversation_id?: string; client_message_id: string }
  | { v: 1; type: "feedback"; client_message_id: string; conversation_id?: string; rating: Rating; comment?: string }
  | { v: 1; type: "ping" }
  | { v: 1; type: "handoff_request"; language?: string }
  | { v: 1; type: "end_handoff" }
  | { v: 1; type: "callback_request"; consent: true; language?: string; name?: string; phone?: string; email?: string; message?: string };

/** Parse one server frame; null for anything that is not a protocol v1 object with a type. */
export function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== "string") return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object") return null;
  const message = value as { v?: unknown; type?: unknown };
  if (message.v !== PROTOCOL_VERSION || typeof message.type !== "string") return null;
  return value as ServerMessage;
}

/** Keep what the widget shows and stores of a citation; the passage and spans stay on the server. */
export function citationOf(raw: Partial<Citation> & Record<string, unknown>): Citation | null {
  if (typeof raw.number !== "number" || !Number.isInteger(raw.number)) return null;
  return {
    number: raw.number,
    title: String(raw.title ?? ""),
    url: typeof raw.url === "string" ? raw.url : null,
    location: String(raw.location ?? ""),
    snippet: String(raw.snippet ?? ""),
  };
}
