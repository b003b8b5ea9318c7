// Building DOM nodes. The widget never assigns HTML strings (no innerHTML, outerHTML, insertAdjacentHTML):
// every text, whether from the server, a source document or the citizen, becomes a text node.

export type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else if (name === "class") {
      element.className = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** A visually hidden text for screen readers. */
export function srOnly(text: string): HTMLSpanElement {
  return h("span", { class: "sr-only" }, text);
}

const SVG = "http://www.w3.org/2000/svg";

// 24×24 outline icons (paths drawn for this widget), decorative: the controls carry text labels.
const ICONS = {
  chat: "M4 5h16v11H9l-5 4z",
  close: "M6 6l12 12M18 6L6 18",
  person: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 4-6 8-6s8 2 8 6",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  send: "M4 12l16-8-6 16-3-7z",
  up: "M7 11v9H4v-9zM7 11l4-7c2 0 3 1 2 4l-1 3h6c1 0 2 1 2 2l-2 6c0 1-1 1-2 1H7",
  down: "M7 13V4H4v9zM7 13l4 7c2 0 3-1 2-4l-1-3h6c1 0 2-1 2-2l-2-6c0-1-1-1-2-1H7",
  phone: "M5 4h4l2 5-3 2a12 12 0 0 0 5 5l2-3 5 2v4a2 2 0 0 1-2 2A17 17 0 0 1 3 6a2 2 0 0 1 2-2z",
  mail: "M3 6h18v12H3zM3 6l9 7 9-7",
  alert: "M12 3l10 18H2zM12 10v5M12 18v.5",
} as const;
export type IconName = keyof typeof ICONS;

export function icon(name: IconName): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}

let counter = 0;
/** Ids unique within the widget's shadow root (for aria-controls, aria-labelledby, label[for]). */
export function uid(prefix: string): string {
  counter += 1;
  return `siwi-${prefix}-${counter}`;
}
