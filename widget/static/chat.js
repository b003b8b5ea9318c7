// Minimal chat client for protocol v1 (docs/protocol.md). Deltas are checked sentences, appended as they
// arrive; the final message repeats the whole answer. Everything is inserted as text, never as HTML.
(() => {
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("question");
  const status = document.getElementById("status");
  let socket, conversationId = sessionStorage.getItem("siwi.conversation") || "", current = null;

  function item(cls, text) {
    const li = document.createElement("li");
    li.className = cls;
    const span = document.createElement("span");
    span.className = "text";
    span.textContent = text;
    li.appendChild(span);
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  function connect() {
    const url = new URL("/ws/chat", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (conversationId) url.searchParams.set("conversation_id", conversationId);
    socket = new WebSocket(url);
    socket.onopen = () => { status.textContent = ""; };
    socket.onclose = () => { status.textContent = "Verbindung getrennt – neuer Versuch …"; setTimeout(connect, 2000); };
    socket.onmessage = (event) => handle(JSON.parse(event.data));
  }

  function handle(msg) {
    if (msg.type === "ready") {
      conversationId = msg.conversation_id;
      sessionStorage.setItem("siwi.conversation", conversationId);
    } else if (msg.type === "queued") {
      status.textContent = `Sie sind an Position ${msg.position}. Bitte einen Moment Geduld.`;
    } else if (msg.type === "started") {
      status.textContent = "SiWi sucht in den Quellen und prüft die Antwort …";
      current = item("bot", "");
    } else if (msg.type === "delta" && current) {
      current.querySelector(".text").textContent += msg.text;
      status.textContent = "SiWi prüft weitere Sätze …";
    } else if (msg.type === "final") {
      const li = current || item("bot", "");
      li.className = "bot";
      li.querySelector(".text").textContent = msg.answer.text;
      if (msg.answer.citations.length) {
        const ol = document.createElement("ol");
        ol.className = "sources";
        ol.setAttribute("aria-label", "Quellen");
        for (const c of msg.answer.citations) {
          const entry = document.createElement("li");
          entry.value = c.number;
          const safeUrl = c.url && /^https?:\/\//.test(c.url) ? c.url : null;
          const target = document.createElement(safeUrl ? "a" : "span");
          if (safeUrl) { target.href = safeUrl; target.rel = "noopener"; target.target = "_blank"; }
          target.textContent = c.title;
          target.title = c.snippet;
          entry.appendChild(target);
          ol.appendChild(entry);
        }
        li.appendChild(ol);
      }
      current = null;
      status.textContent = "";
    } else if (msg.type === "error") {
      item("bot error", msg.message);
      current = null;
      status.textContent = "";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    item("user", text);
    socket.send(JSON.stringify({ v: 1, type: "user_message", text, conversation_id: conversationId }));
    input.value = "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  connect();
})();
