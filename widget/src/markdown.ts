// A small, safe Markdown renderer for answers: paragraphs, line breaks, bullet and numbered lists,
// headings (shown as bold lines), **bold**, *italics*, inline code, links to http(s) only and citation markers
// "[3]" / "[1][3]" / "[1, 3]". It builds DOM nodes; HTML in the text stays text. Anything it does not
// understand (a javascript: link, raw HTML, a table) is shown as the characters that were written.

import { h, srOnly } from "./dom";
import { safeHttpUrl } from "./options";

export interface RenderOptions {
  /** Builds the node for a citation marker; by default the marker is shown as written. */
  marker?: (numbers: number[], written: string) => Node;
  /** Screen-reader text appended to links, which open in a new window. */
  newWindow: string;
}

type Block =
  | { kind: "p"; lines: string[] }
  | { kind: "ul"; items: string[] }
  | { kind: "ol"; items: string[]; start: number };

const BULLET = /^\s{0,3}[-*•]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,2})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;

export function renderMarkdown(text: string, options: RenderOptions): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const block of parseBlocks(text)) {
    if (block.kind === "p") {
      const p = h("p");
      block.lines.forEach((line, i) => {
        if (i > 0) p.appendChild(h("br"));
        const heading = HEADING.exec(line);
        if (heading) p.appendChild(h("strong", {}, inline(heading[1], options)));
        else p.appendChild(inline(line, options));
      });
      fragment.appendChild(p);
    } else {
      const list = block.kind === "ul" ? h("ul") : h("ol", { start: block.start === 1 ? null : block.start });
      for (const item of block.items) list.appendChild(h("li", {}, inline(item, options)));
      fragment.appendChild(list);
    }
  }
  return fragment;
}

export function parseBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let current: Block | null = null;
  for (const raw of text.replace(/\r\n?/g, "\n").split("\n")) {
    const line = raw.replace(/\s+$/, "");
    if (!line.trim()) {
      current = null;
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet) {
      if (current?.kind !== "ul") blocks.push((current = { kind: "ul", items: [] }));
      current.items.push(bullet[1]);
    } else if (numbered) {
      if (current?.kind !== "ol") blocks.push((current = { kind: "ol", items: [], start: Number(numbered[1]) }));
      current.items.push(numbered[2]);
    } else if (current && current.kind !== "p" && /^\s{2,}\S/.test(line)) {
      // An indented line continues the list item above it.
      current.items[current.items.length - 1] += " " + line.trim();
    } else {
      if (current?.kind !== "p") blocks.push((current = { kind: "p", lines: [] }));
      current.lines.push(line.trim());
    }
  }
  return blocks;
}

// One pass over the text; the first alternative that matches at a position wins.
const INLINE = new RegExp(
  [
    "(`+)([^`\\n]+?)\\1", // 1, 2: inline code
    "\\[([^\\]\\n]+)\\]\\(([^()\\s]+)\\)", // 3, 4: [text](url)
    "\\[(\\d{1,3}(?:\\s*[,;]\\s*\\d{1,3})*)\\](?!\\()", // 5: citation marker
    "\\*\\*(\\S(?:[^\\n]*?\\S)?)\\*\\*", // 6: **bold** (not __bold__: snake_case words stay as written)
    "\\*([^\\s*](?:[^*\\n]*?[^\\s*])?)\\*", // 7: *italic*
    "(https?:\\/\\/[^\\s<>\"'`]+)", // 8: bare URL
  ].join("|"),
  "g",
);

export function inline(text: string, options: RenderOptions): DocumentFragment {
  const fragment = document.createDocumentFragment();
  let last = 0;
  INLINE.lastIndex = 0;
  const matches = Array.from(text.matchAll(INLINE));
  for (const match of matches) {
    const index = match.index ?? 0;
    if (index < last) continue;
    fragment.append(text.slice(last, index));
    last = index + match[0].length;
    const [whole, , code, linkText, linkUrl, markers, bold, italic, bare] = match;
    if (code !== undefined) {
      fragment.append(h("code", {}, code));
    } else if (linkText !== undefined) {
      const href = safeHttpUrl(linkUrl);
      fragment.append(href ? link(href, linkText, options) : whole);
    } else if (markers !== undefined) {
      const numbers = markers.split(/[,;]/).map((n) => Number(n.trim()));
      fragment.append(options.marker ? options.marker(numbers, whole) : whole);
    } else if (bold !== undefined) {
      fragment.append(h("strong", {}, inline(bold, options)));
    } else if (italic !== undefined) {
      fragment.append(h("em", {}, inline(italic, options)));
    } else if (bare !== undefined) {
      // Sentence punctuation after a URL is not part of it.
      const url = bare.replace(/[.,;:!?)\]]+$/, "");
      const href = safeHttpUrl(url);
      fragment.append(href ? link(href, url, options) : url, bare.slice(url.length));
    }
  }
  fragment.append(text.slice(last));
  return fragment;
}

function link(href: string, text: string, options: RenderOptions): HTMLAnchorElement {
  return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text, srOnly(" " + options.newWindow));
}

/** The text as a screen reader should hear it: Markdown and markers removed. */
export function plainText(text: string): string {
  return text
    .replace(/\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\](?!\()/g, "")
    .replace(/\[([^\]\n]+)\]\(([^()\s]+)\)/g, "$1")
    .replace(/\*\*|`/g, "")
    .replace(/^\s{0,3}(?:[-*•]|#{1,6})\s+/gm, "")
    .replace(/[ \t]+([.,;:!?])/g, "$1")
    .replace(/\s+/g, " ")
    .trim();
}
