// The staff workspace's pages besides the inbox: callback requests, citizens' feedback, the knowledge search
// over public and internal documents, and the admins' exports.

import { h } from "./dom";
import {
  announce, api, field, httpUrl, keepFocus, LANGUAGES, options, report, session, statusLine, when,
  type Callback,
} from "./staff-core";
import type { Answer, Citation } from "./protocol";

export interface Page {
  title: string;
  render(main: HTMLElement, params: URLSearchParams): void;
  /** Reload the page's data (a callback arrived or was done elsewhere). */
  refresh?: () => void;
}

function heading(text: string): HTMLHeadingElement {
  return h("h1", { tabindex: -1 }, text);
}

// --- callbacks --------------------------------------------------------------------------------------------

export const callbacksPage: Page = {
  title: "Rückrufe",
  render(main, params) {
    const state = params.get("state") === "done" ? "done" : "open";
    const list = h("ul", { class: "cards", "aria-busy": "true" });
    const status = statusLine();
    main.replaceChildren(
      heading("Rückrufe"),
      h("p", { class: "lead" }, "Bürgerinnen und Bürger, die um Rückruf oder Antwort per E-Mail gebeten haben (mit ihrer Einwilligung)."),
      h("nav", { class: "tabs", "aria-label": "Rückrufe filtern" },
        h("a", { href: "/staff/callbacks", "data-nav": "", "aria-current": state === "open" ? "page" : null }, "Offen"),
        h("a", { href: "/staff/callbacks?state=done", "data-nav": "", "aria-current": state === "done" ? "page" : null }, "Erledigt")),
      status, list);
    const load = async () => {
      try {
        const items = await api<Callback[]>(`/callbacks?state=${state}`);
        keepFocus(() => list.replaceChildren(...items.map((item) => callbackCard(item, load, status))));
        list.removeAttribute("aria-busy");
        if (!items.length) list.replaceChildren(h("li", { class: "empty" }, state === "open" ? "Keine offenen Rückrufe." : "Noch keine erledigten Rückrufe."));
      } catch (error) {
        report(status, error);
      }
    };
    callbacksPage.refresh = load;
    void load();
  },
};

function callbackCard(item: Callback, reload: () => void, status: HTMLElement): HTMLLIElement {
  const titleId = `cb-${item.id}`;
  const rows: [string, Node | string][] = [];
  if (item.phone) rows.push(["Telefon", h("a", { href: `tel:${item.phone.replace(/[^\d+]/g, "")}` }, item.phone)]);
  if (item.email) rows.push(["E-Mail", h("a", { href: `mailto:${item.email}` }, item.email)]);
  if (item.message) rows.push(["Anliegen", item.message]);
  rows.push(["Sprache", LANGUAGES[item.language] ?? item.language], ["Eingegangen", when(item.created_at)],
    ["Einwilligung", when(item.consent_at)]);
  if (item.state === "done") {
    rows.push(["Erledigt", h("span", {}, when(item.done_at), item.done_by ? ` von ${item.done_by}` : "")]);
    if (item.note) rows.push(["Notiz", item.note]);
  }
  const card = h("li", { class: "card" },
    h("article", { "aria-labelledby": titleId },
      h("h2", { id: titleId }, item.name || "Ohne Namen"),
      h("dl", {}, rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
      item.context.length ? h("details", {},
        h("summary", {}, `Chat davor (${item.context.length} Nachrichten)`),
        h("ol", { class: "context" }, item.context.map((m) => h("li", { class: m.role },
          h("strong", {}, m.role === "citizen" ? "Bürgerin/Bürger: " : m.role === "staff" ? "Team: " : "SiWi: "), m.text)))) : null,
    ));
  if (item.state === "open") {
    const [note, noteField] = field("Notiz (intern, freiwillig)", "input", { type: "text", maxlength: 2000, "data-key": `cb-note-${item.id}` });
    card.firstElementChild?.appendChild(h("form", {
      class: "inline-form",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        try {
          await api(`/callbacks/${item.id}/done`, { note: note.value.trim() || null });
          report(status, null, `Rückruf von ${item.name || "ohne Namen"} als erledigt markiert.`);
          reload();
          (document.querySelector("h1") as HTMLElement | null)?.focus();
        } catch (error) {
          report(status, error);
        }
      },
    }, noteField, h("button", { type: "submit", "data-key": `cb-done-${item.id}` }, "Als erledigt markieren")));
  }
  return card;
}

// --- feedback ---------------------------------------------------------------------------------------------

interface FeedbackItem {
  id: number;
  conversation_id: string | null;
  rating: "up" | "down";
  comment: string | null;
  question: string | null;
  answer: string | null;
  outcome: string | null;
  created_at: string;
}

const OUTCOMES: Record<string, string> = { answered: "beantwortet", no_answer: "keine Antwort", handoff: "an Person", emergency: "Notfall" };

export const feedbackPage: Page = {
  title: "Rückmeldungen",
  render(main, params) {
    const rating = params.get("rating") ?? "";
    const sinceDay = params.get("since") ?? "";
    const [ratingSelect, ratingField] = field("Bewertung", "select", { name: "rating" },
      ...options([["", "alle"], ["up", "hilfreich (Daumen hoch)"], ["down", "nicht hilfreich (Daumen runter)"]], rating));
    const [sinceInput, sinceField] = field("Seit", "input", { type: "date", name: "since", value: sinceDay });
    const status = statusLine();
    const table = h("div", { class: "table-wrap", role: "region", "aria-label": "Rückmeldungen", tabindex: 0 });
    main.replaceChildren(heading("Rückmeldungen"),
      h("form", {
        class: "filters", role: "search", "aria-label": "Rückmeldungen filtern",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const query = new URLSearchParams();
          if (ratingSelect.value) query.set("rating", ratingSelect.value);
          if (sinceInput.value) query.set("since", sinceInput.value);
          navigateTo(`/staff/feedback${query.size ? "?" + query : ""}`);
        },
      }, ratingField, sinceField, h("button", { type: "submit" }, "Anzeigen")),
      status, table);
    const query = new URLSearchParams();
    if (rating) query.set("rating", rating);
    if (sinceDay) query.set("since", sinceDay);
    api<FeedbackItem[]>(`/feedback${query.size ? "?" + query : ""}`).then((items) => {
      report(status, null, `${items.length} ${items.length === 1 ? "Rückmeldung" : "Rückmeldungen"}`);
      table.replaceChildren(h("table", {},
        h("thead", {}, h("tr", {}, ["Eingegangen", "Bewertung", "Frage", "Antwort", "Ergebnis", "Kommentar"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, items.map((f) => h("tr", { "data-rating": f.rating },
          h("td", {}, when(f.created_at)),
          h("td", {}, h("span", { class: `rating ${f.rating}` }, f.rating === "up" ? "hilfreich" : "nicht hilfreich")),
          h("td", {}, f.question ?? "–"),
          h("td", { class: "answer" }, f.answer ? (f.answer.length > 280 ? f.answer.slice(0, 280) + " …" : f.answer) : "–"),
          h("td", {}, OUTCOMES[f.outcome ?? ""] ?? f.outcome ?? "–"),
          h("td", {}, f.comment ?? "–"))))));
    }, (error) => report(status, error));
  },
};

// --- knowledge search -------------------------------------------------------------------------------------

interface Hit {
  rank: number;
  title: string;
  url: string | null;
  location: string;
  source: string;
  doc_type: string;
  visibility: string;
  headings: string;
  last_modified: string;
  snippet: string;
  highlights: [number, number][];
}

const DOC_TYPES: [string, string][] = [["", "alle"], ["service", "Leistung"], ["page", "Webseite"], ["pdf", "PDF"], ["docx", "Word"], ["text", "Text"]];

/** The snippet with the matching words as <mark>; offsets count code points (Python), not UTF-16 units. */
export function highlighted(snippet: string, highlights: [number, number][]): Node[] {
  const chars = Array.from(snippet);
  const nodes: Node[] = [];
  let at = 0;
  for (const [start, end] of [...highlights].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start || end > chars.length) continue;
    nodes.push(document.createTextNode(chars.slice(at, start).join("")), h("mark", {}, chars.slice(start, end).join("")));
    at = end;
  }
  nodes.push(document.createTextNode(chars.slice(at).join("")));
  return nodes;
}

export const searchPage: Page = {
  title: "Wissenssuche",
  render(main, params) {
    const q = params.get("q") ?? "";
    const [query, queryField] = field("Suchbegriffe", "input", { type: "search", name: "q", value: q, required: true, maxlength: 500 });
    const [visibility, visibilityField] = field("Sichtbarkeit", "select", { name: "visibility" },
      ...options([["all", "öffentlich und intern"], ["public", "nur öffentlich"], ["internal", "nur intern"]], params.get("visibility") ?? "all"));
    const [docType, docTypeField] = field("Dokumentart", "select", { name: "doc_type" }, ...options(DOC_TYPES, params.get("doc_type") ?? ""));
    const [source, sourceField] = field("Quelle (Name aus sources.yaml, freiwillig)", "input", { type: "text", name: "source", value: params.get("source") ?? "" });
    const [after, afterField] = field("Geändert nach", "input", { type: "date", name: "modified_after", value: params.get("modified_after") ?? "" });
    const status = statusLine();
    const results = h("ol", { class: "results" });
    main.replaceChildren(heading("Wissenssuche"),
      h("p", { class: "lead" }, "Sucht in öffentlichen und internen Dokumenten. Interne Dokumente sind mit „intern“ markiert und dürfen nicht an Bürgerinnen und Bürger weitergegeben werden."),
      h("form", {
        class: "filters search", role: "search", "aria-label": "Wissenssuche",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const next = new URLSearchParams({ q: query.value.trim() });
          if ((event as SubmitEvent).submitter?.getAttribute("name") === "ask") next.set("ask", "1");
          if (visibility.value !== "all") next.set("visibility", visibility.value);
          if (docType.value) next.set("doc_type", docType.value);
          if (source.value.trim()) next.set("source", source.value.trim());
          if (after.value) next.set("modified_after", after.value);
          if (next.get("q")) navigateTo(`/staff/search?${next}`);
          else query.focus();
        },
      }, queryField, visibilityField, docTypeField, sourceField, afterField, h("button", { type: "submit" }, "Suchen"),
        h("button", { type: "submit", name: "ask" }, "Als Frage beantworten")),
      status, results);
    if (!q.trim()) return;
    if (params.get("ask") === "1") {
      askQuestion(q.trim(), status, results);
      return;
    }
    const request = new URLSearchParams(params);
    request.delete("k");
    api<{ results: Hit[] }>(`/search?${request}`).then(({ results: hits }) => {
      report(status, null, hits.length ? `${hits.length} Treffer für „${q}“` : `Keine Treffer für „${q}“.`);
      results.replaceChildren(...hits.map((hit) => {
        const internal = hit.visibility === "internal";
        const href = httpUrl(hit.url);
        const titleId = `hit-${hit.rank}`;
        return h("li", { class: internal ? "hit internal" : "hit" },
          h("article", { "aria-labelledby": titleId },
            h("h2", { id: titleId },
              internal ? h("span", { class: "tag intern" }, "intern") : h("span", { class: "tag public" }, "öffentlich"), " ",
              href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, hit.title, h("span", { class: "sr-only" }, " (öffnet in neuem Fenster)")) : hit.title),
            h("p", { class: "meta" }, [DOC_TYPES.find(([v]) => v === hit.doc_type)?.[1] ?? hit.doc_type, hit.source && `Quelle: ${hit.source}`,
              hit.last_modified && `geändert ${hit.last_modified.slice(0, 10)}`, hit.headings].filter(Boolean).join(" · ")),
            h("p", { class: "snippet" }, highlighted(hit.snippet, hit.highlights)),
            href ? null : h("p", { class: "location" }, "Fundort: ", h("code", {}, hit.location))));
      }));
    }, (error) => report(status, error));
  },
};

// --- ask mode: an answer from public and internal documents, checked like the citizens' answers ----------

/** The chat protocol's answer, with what only staff get: each citation's visibility and the check's verdicts. */
interface StaffAnswer extends Answer {
  citations: (Citation & { visibility: "public" | "internal" })[];
  sentences: { text: string; verdict: string; original: string; reason: string }[];
}

const VERDICTS: Record<string, string> = {
  supported: "belegt", fixed: "belegt (Quelle korrigiert)", quoted: "durch Quellzitat ersetzt",
  selected: "Quellsatz als Antwort ausgewählt",
  unsupported: "nicht belegt, entfernt", neutral: "ohne Tatsachenbehauptung",
};

function askQuestion(question: string, status: HTMLElement, results: HTMLElement): void {
  report(status, null, "SiWi beantwortet die Frage … (das kann bis zu einer Minute dauern)");
  results.setAttribute("aria-busy", "true");
  api<StaffAnswer>("/ask", { question }).then((answer) => {
    results.removeAttribute("aria-busy");
    report(status, null, answer.outcome === "answered" ? "Antwort mit Quellen" : "Keine belegte Antwort gefunden.");
    const sources = answer.citations.map((c) => {
      const href = httpUrl(c.url);
      return h("li", { value: String(c.number) },
        c.visibility === "internal" ? h("span", { class: "tag intern" }, "intern") : h("span", { class: "tag public" }, "öffentlich"), " ",
        href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, c.title, h("span", { class: "sr-only" }, " (öffnet in neuem Fenster)")) : c.title,
        h("blockquote", { class: "snippet" }, c.snippet));
    });
    const checks = answer.sentences.filter((s) => s.verdict !== "neutral").map((s) =>
      h("li", { class: `verdict ${s.verdict}` }, h("strong", {}, VERDICTS[s.verdict] ?? s.verdict), ": ", s.original || s.text,
        s.reason ? h("span", { class: "small" }, ` (${s.reason})`) : null));
    results.replaceChildren(h("li", { class: "hit answer" }, h("article", { "aria-labelledby": "answer-title" },
      h("h2", { id: "answer-title" }, "Antwort"),
      h("p", { class: "answer-text" }, answer.text),
      sources.length ? h("h3", {}, "Quellen") : null, sources.length ? h("ol", { class: "sources" }, ...sources) : null,
      checks.length ? h("details", {}, h("summary", {}, "Prüfung der Sätze (nur für Mitarbeitende)"), h("ul", {}, ...checks)) : null)));
    announce(answer.outcome === "answered" ? "Antwort erhalten." : "Keine belegte Antwort gefunden.");
  }, (error) => {
    results.removeAttribute("aria-busy");
    report(status, error);
  });
}

// --- exports (admins) -------------------------------------------------------------------------------------

export const exportPage: Page = {
  title: "Export",
  render(main) {
    if (session.me?.role !== "admin") {
      main.replaceChildren(heading("Export"), h("p", {}, "Die Exporte sind Administratorinnen und Administratoren vorbehalten."));
      return;
    }
    const [sinceInput, sinceField] = field("Seit (freiwillig)", "input", { type: "date" });
    const links = h("ul", { class: "exports" });
    const fill = () => {
      const suffix = sinceInput.value ? `&since=${sinceInput.value}` : "";
      links.replaceChildren(...[["conversations", "Abgeschlossene Gespräche"], ["feedback", "Rückmeldungen"]].flatMap(([what, label]) =>
        ["csv", "json"].map((format) => h("li", {}, h("a", { href: `/staff/api/export/${what}?format=${format}${suffix}`, download: "" },
          `${label} als ${format.toUpperCase()}`)))));
    };
    sinceInput.addEventListener("change", fill);
    fill();
    main.replaceChildren(heading("Export"),
      h("p", { class: "lead" }, "Für Auswertung und Prüfung. CSV öffnet sich in Tabellenprogrammen (UTF-8 mit BOM); JSON enthält bei Gesprächen den ganzen Verlauf."),
      sinceField, links);
    announce("");
  },
};

/** Set by staff.ts: client-side navigation (the live inbox socket stays open). */
export let navigateTo: (path: string) => void = (path) => location.assign(path);
export function setNavigate(fn: (path: string) => void): void {
  navigateTo = fn;
}
