/* File inputs in Chinese (选择文件 / the chosen file's name / 未选择文件) instead of the browser's own
   words, which follow the browser's language. Without this script the native input shows as it is. */
(function () {
  "use strict";
  document.documentElement.className += " js";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || input.type !== "file" || !input.id) { return; }
    var shown = document.getElementById(input.id + "-chosen");
    if (!shown) { return; }
    var names = [];
    for (var i = 0; input.files && i < input.files.length; i += 1) { names.push(input.files[i].name); }
    shown.textContent = names.length ? names.join("、") : "未选择文件";
  });
}());
