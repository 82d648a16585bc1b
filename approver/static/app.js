// The dashboard's own script (progressive: every page works without it). Counts down the time
// left on pending approvals, also in lists htmx swaps in later.
"use strict";

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-expires]")) {
    const left = Math.round((Date.parse(el.dataset.expires) - now) / 1000);
    el.textContent = left > 0 ? `in ${Math.floor(left / 60)} min ${left % 60} s` : "expired";
  }
}

setInterval(tick, 1000);
document.addEventListener("DOMContentLoaded", tick);

// A button with `data-copy="<id>"` copies that element's text (the page shows it selectable too).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    button.textContent = "Copied";
  });
});
