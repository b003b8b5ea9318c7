// The WebSocket to the SiWi server: connects with the conversation id, reconnects with exponential
// backoff (1 s, 2 s, 4 s … up to 15 s, with jitter) after a network loss or a server restart, notices a dead
// connection by a ping that gets no answer, and reports its state. What to (re)send after a reconnect is
// the widget's business (see element.ts): the connection only delivers frames.

import { parseServerMessage, PROTOCOL_VERSION, type ClientMessage, type ServerMessage } from "./protocol";

export type ConnectionState = "idle" | "connecting" | "online" | "offline";

export interface ConnectionEvents {
  message(message: ServerMessage): void;
  /** `retryAt`: when the next attempt starts (ms since the epoch), while offline. */
  state(state: ConnectionState, retryAt: number | null): void;
}

export const BACKOFF = { first: 1000, max: 15000, jitter: 0.2 };
const PING_EVERY = 25000;
const PONG_WITHIN = 10000;
const OPEN_WITHIN = 10000;

export class Connection {
  state: ConnectionState = "idle";
  private socket: WebSocket | null = null;
  private attempt = 0;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private deadTimer: number | undefined;
  private readonly onOnline = () => this.state === "offline" && this.retryNow();
  private readonly onOffline = () => this.socket?.close();

  constructor(
    private readonly url: string,
    /** The query of the next connection: conversation_id, and resume_token and after for a handoff. */
    private readonly query: () => Record<string, string>,
    private readonly events: ConnectionEvents,
  ) {}

  /** Connect unless connected or connecting. */
  start(): void {
    if (this.state === "idle") {
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
      this.open();
    }
  }

  retryNow(): void {
    if (this.state !== "offline") return;
    window.clearTimeout(this.retryTimer);
    this.open();
  }

  /** Drop the connection and open a new one (a new conversation after "clear"). */
  restart(): void {
    this.stop();
    this.start();
  }

  stop(): void {
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    window.clearTimeout(this.retryTimer);
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
    this.attempt = 0;
    this.setState("idle");
  }

  /** Send a frame if the server is ready for it; false if not (the caller keeps it for later). */
  send(message: ClientMessage): boolean {
    if (this.state !== "online" || !this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private open(): void {
    this.setState("connecting");
    const url = new URL(this.url);
    for (const [name, value] of Object.entries(this.query())) url.searchParams.set(name, value);
    let socket: WebSocket;
    try {
      socket = new WebSocket(url.toString());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    this.deadTimer = window.setTimeout(() => socket.close(), OPEN_WITHIN);
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this.alive();
      const message = parseServerMessage(event.data);
      if (!message) return;
      if (message.type === "ready") {
        this.attempt = 0;
        this.setState("online");
      }
      this.events.message(message);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.clearTimers();
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const base = Math.min(BACKOFF.max, BACKOFF.first * 2 ** this.attempt);
    const delay = Math.round(base * (1 - BACKOFF.jitter + Math.random() * 2 * BACKOFF.jitter));
    this.attempt += 1;
    this.retryTimer = window.setTimeout(() => this.open(), delay);
    this.setState("offline", Date.now() + delay);
  }

  /** Any frame shows the connection is alive: wait a while, then ping; no answer closes it. */
  private alive(): void {
    this.clearTimers();
    this.pingTimer = window.setTimeout(() => {
      if (this.socket?.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ v: PROTOCOL_VERSION, type: "ping" }));
        const socket = this.socket;
        this.deadTimer = window.setTimeout(() => socket.close(), PONG_WITHIN);
      }
    }, PING_EVERY);
  }

  private clearTimers(): void {
    window.clearTimeout(this.pingTimer);
    window.clearTimeout(this.deadTimer);
  }

  private setState(state: ConnectionState, retryAt: number | null = null): void {
    this.state = state;
    this.events.state(state, retryAt);
  }
}
