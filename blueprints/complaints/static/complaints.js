// The complaint box: count the characters of a long text as it is typed, against its
// limit (data-limit). The server checks the limit too, and says so; nothing is cut.
document.querySelectorAll("textarea[data-limit]").forEach(function (area) {
  var limit = parseInt(area.getAttribute("data-limit"), 10);
  var count = document.createElement("p");
  count.className = "hint char-count";
  count.id = area.id + "-count";
  count.setAttribute("aria-live", "polite");
  area.insertAdjacentElement("afterend", count);
  var described = area.getAttribute("aria-describedby");
  area.setAttribute("aria-describedby", (described ? described + " " : "") + count.id);
  function update() {
    var length = area.value.length;
    count.textContent = length + " / " + limit;
    count.classList.toggle("over", length > limit);
  }
  area.addEventListener("input", update);
  update();
});
