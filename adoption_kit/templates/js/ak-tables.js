/* adoption-kit: every table with a header row sorts by a click on a header (numbers as numbers, n/a last) and
   gets a filter box above it. Allowed by its SHA-256 under the page's Content-Security-Policy. */
(function () {
  "use strict";
  var NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
  function key(cell) {
    var text = (cell ? (cell.getAttribute("data-sort") || cell.textContent || "") : "").trim();
    var bare = text.replace(/[\s,\u00a0\u202f]/g, "").replace(/^[A-Z]{3}(?=[-+.\d])/, "").replace(/[%\u2030]$/, "");
    if (NUMBER.test(bare)) return {missing: false, num: parseFloat(bare), text: text};
    var missing = text === "" || /^(n\/a|na|none|nan|null|-|\u2014|\u2013)$/i.test(text);
    return {missing: missing, num: null, text: text.toLocaleLowerCase()};
  }
  function compare(a, b) {
    if (a.missing !== b.missing) return a.missing ? 1 : -1;          // missing last, whatever the direction
    if ((a.num === null) !== (b.num === null)) return a.num === null ? 1 : -1;
    if (a.num !== null) return a.num - b.num;
    return a.text.localeCompare(b.text);
  }
  function sortBy(table, header, index, th) {
    var body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(header.cells, function (c) { c.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.map.call(body.rows, function (row, position) {
      return {row: row, key: key(row.cells[index]), position: position};
    });
    rows.sort(function (a, b) {
      if (a.key.missing !== b.key.missing) return a.key.missing ? 1 : -1;
      var order = compare(a.key, b.key);
      return (ascending ? order : -order) || a.position - b.position;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  function enhance(table, count) {
    var head = table.tHead, body = table.tBodies[0];
    if (!head || !body || table.tBodies.length !== 1 || body.rows.length < 2) return;
    if (body.querySelector("[rowspan],[colspan]")) return;            // rows that span cannot be reordered
    var header = head.rows[head.rows.length - 1];
    if (header.querySelector("[colspan]") || header.cells.length !== body.rows[0].cells.length) return;
    table.classList.add("ak-sortable");
    Array.prototype.forEach.call(header.cells, function (th, index) {
      th.classList.add("ak-sort");
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      th.setAttribute("title", "Sort by this column");
      th.addEventListener("click", function () { sortBy(table, header, index, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, header, index, th); }
      });
    });
    var input = document.createElement("input");
    input.type = "search";
    input.className = "ak-filter";
    input.placeholder = "Filter rows";
    input.setAttribute("aria-label", "Filter the rows of table " + count);
    input.addEventListener("input", function () {
      var words = input.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(body.rows, function (row) {
        var text = row.textContent.toLocaleLowerCase();
        row.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
      });
    });
    table.parentNode.insertBefore(input, table);
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table"), function (t, i) { enhance(t, i + 1); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
