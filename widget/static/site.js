// Demo page: the "open chat" button uses the widget's JavaScript API (docs/widget.md).
document.querySelectorAll("[data-open-chat]").forEach((button) => {
  button.addEventListener("click", () => window.SiWi && window.SiWi.open());
});
