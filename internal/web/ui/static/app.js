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
