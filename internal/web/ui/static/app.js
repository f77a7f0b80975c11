// Moments UI: small progressive enhancements. Every page works without this
// script; it shows times in the viewer's time zone, remembers that zone for
// server-rendered pages, and shows errors of in-place (htmx) updates.
(function () {
  "use strict";
  var tz = "";
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { tz = ""; }
  if (tz && document.cookie.indexOf("moments_tz=" + encodeURIComponent(tz)) < 0) {
    document.cookie = "moments_tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; samesite=lax";
  }

  // A region that scrolls sideways (a wide table on a narrow screen) can
  // be scrolled with the keyboard: it takes focus and is named after its
  // section's heading (WCAG 2.1.1). Regions that fit are left alone, so
  // they add no stop to the Tab order.
  function scrollables(root) {
    var els = (root || document).querySelectorAll(".table-wrap, .jm-scroll");
    for (var i = 0; i < els.length; i++) {
      var el = els[i], scrolls = el.scrollWidth > el.clientWidth + 1;
      if (scrolls && !el.hasAttribute("tabindex")) {
        var sec = el.closest("section, details, .card"), h = sec && sec.querySelector("h2, h3, summary, caption");
        el.setAttribute("tabindex", "0");
        el.setAttribute("role", "region");
        el.setAttribute("aria-label", (h ? h.textContent.replace(/\s+/g, " ").trim() : document.title) + " (scrolls sideways)");
        el.setAttribute("data-scrolls", "");
      } else if (!scrolls && el.hasAttribute("data-scrolls")) {
        el.removeAttribute("tabindex");
        el.removeAttribute("role");
        el.removeAttribute("aria-label");
        el.removeAttribute("data-scrolls");
      }
    }
  }
  // When an in-place update replaces the part that held the focus (a task
  // row after Done), the focus moves to the new part's first control, so
  // that a keyboard user stays where they were instead of at the page's top.
  var refocus = "";
  document.addEventListener("htmx:beforeSwap", function (e) {
    var t = e.detail.target;
    refocus = t && t.id && t.contains(document.activeElement) ? t.id : "";
  });
  document.addEventListener("htmx:afterSettle", function () {
    var el = refocus && document.getElementById(refocus);
    refocus = "";
    if (!el || (document.activeElement && document.activeElement !== document.body && el.contains(document.activeElement))) { return; }
    var c = el.querySelector("button, select, a[href], input:not([type=hidden])");
    if (c) { c.focus(); }
  });

  document.addEventListener("DOMContentLoaded", function () { scrollables(document); });
  document.addEventListener("htmx:afterSettle", function () { scrollables(document); });
  document.addEventListener("toggle", function () { scrollables(document); }, true);
  window.addEventListener("resize", function () { scrollables(document); });

  var dateFmt, dateTimeFmt;
  try {
    dateFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
    dateTimeFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  } catch (e) { return; }

  function localise(root) {
    var els = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i], d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { continue; }
      el.textContent = el.getAttribute("data-local") === "date" ? dateFmt.format(d) : dateTimeFmt.format(d);
      el.removeAttribute("data-local");
    }
  }

  function say(msg, isError) {
    var box = document.getElementById("live");
    if (!box) { return; }
    box.textContent = msg;
    box.className = isError ? "flash error" : "flash";
    box.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, text = "";
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var m = doc.querySelector("[data-message]");
    text = m ? m.textContent.trim() : "The change was not saved (HTTP " + xhr.status + "). Reload the page and try again.";
    say(text, true);
  });
  document.addEventListener("htmx:sendError", function () {
    say("Moments could not be reached. Check your connection and try again.", true);
  });
  // A select with data-autosubmit submits its form when changed (filters).
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.hasAttribute && t.hasAttribute("data-autosubmit") && t.form) { t.form.requestSubmit ? t.form.requestSubmit() : t.form.submit(); }
  });
})();
