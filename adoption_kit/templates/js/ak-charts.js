/* adoption-kit: draws each div.ak-chart live with vega-embed from the spec in its data-ak-spec attribute.
   The static SVG inside the div stays until the live chart has drawn (and for printing: see ak-page.css).
   Allowed by its SHA-256 under the page's Content-Security-Policy ('strict-dynamic' lets it add the bundle's
   script element; a script element written into the page is still refused). AK_BUNDLE is the relative path of the
   run folder's _assets/vega-bundle.js, or "" when the page carries the bundle inline. */
(function () {
  "use strict";
  var AK_BUNDLE = "__AK_BUNDLE__";
  var OPTIONS = {renderer: "svg", actions: false, ast: true};   // ast: Vega's expression interpreter, no eval
  function drawAll() {
    var charts = document.querySelectorAll("div.ak-chart[data-ak-spec]");
    Array.prototype.forEach.call(charts, function (el) {
      var spec;
      try { spec = JSON.parse(el.getAttribute("data-ak-spec")); } catch (e) { return; }
      var live = document.createElement("div");
      live.className = "ak-live";
      el.appendChild(live);
      window.vegaEmbed(live, spec, OPTIONS).then(function (result) {
        el.akView = result.view;
        el.classList.add("ak-ready");
      }).catch(function (err) {
        live.remove();
        el.setAttribute("data-ak-error", String(err));
      });
    });
  }
  function start() {
    if (!document.querySelector("div.ak-chart[data-ak-spec]")) return;
    if (window.vegaEmbed) { drawAll(); return; }
    if (!AK_BUNDLE) return;
    var script = document.createElement("script");
    script.src = AK_BUNDLE;
    script.onload = drawAll;
    document.head.appendChild(script);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
