// Entry point of siwi.js. One script tag adds the chat launcher:
//
//   <script src="https://HOST/widget/siwi.js" data-server="wss://HOST" defer></script>
//
// Options come from the tag's data attributes (docs/widget.md) or from `SiWi.init({...})`; with
// `data-init="manual"` nothing happens until the page calls `SiWi.init`.

import { SiwiChat } from "./element";
import { optionsFromDataset, resolveOptions, type InitOptions } from "./options";

const TAG = "siwi-chat";

interface SiWiApi {
  version: string;
  init(options?: InitOptions): SiwiChat;
  open(): void;
  close(): void;
}

declare global {
  interface Window {
    SiWi?: SiWiApi;
  }
  interface HTMLElementTagNameMap {
    "siwi-chat": SiwiChat;
  }
}

function boot(): void {
  if (window.SiWi) return; // the script was included twice
  const script =
    (document.currentScript as HTMLScriptElement | null) ??
    document.querySelector<HTMLScriptElement>('script[src*="/widget/siwi.js"]');
  const scriptOptions = script ? optionsFromDataset(script.dataset) : {};
  const defaultServer = script?.src ? new URL(script.src, document.baseURI).origin : location.origin;
  if (!customElements.get(TAG)) customElements.define(TAG, SiwiChat);

  const init = (options: InitOptions = {}): SiwiChat => {
    let element = document.querySelector(TAG);
    const elementOptions = element ? optionsFromDataset(element.dataset) : {};
    const merged: InitOptions = {
      ...scriptOptions,
      ...elementOptions,
      ...options,
      colors: { ...scriptOptions.colors, ...elementOptions.colors, ...options.colors },
    };
    if (!element) {
      element = document.createElement(TAG);
      document.body.appendChild(element);
    }
    element.configure(resolveOptions(merged, defaultServer, document.documentElement.lang));
    return element;
  };

  window.SiWi = {
    version: __VERSION__,
    init,
    open: () => document.querySelector(TAG)?.open(),
    close: () => document.querySelector(TAG)?.close(),
  };

  if (script?.dataset.init !== "manual") {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => init(), { once: true });
    else init();
  }
}

boot();
