// Keep a page up to date: each server-sent event carries HTML the server already escaped.
(function () {
  var url = document.body.dataset.follow;
  if (!url) return;
  var source = new EventSource(url);
  source.addEventListener("append", function (message) {
    var data = JSON.parse(message.data);
    document.getElementById("events").insertAdjacentHTML("beforeend", data.html);
    if (data.status) document.getElementById("status").outerHTML = data.status;
    if (data.accuracy) document.getElementById("accuracy").innerHTML = data.accuracy;
    document.body.dataset.seen = String(Number(document.body.dataset.seen || 0) + 1);
    var streaming = document.getElementById("streaming");
    if (streaming) { streaming.textContent = ""; streaming.hidden = true; }
  });
  // A model's reply as it streams: plain text, never markup.
  source.addEventListener("delta", function (message) {
    var data = JSON.parse(message.data);
    var streaming = document.getElementById("streaming");
    if (!streaming) return;
    if (data.chars === data.text.length) streaming.textContent = data.role + ": ";
    streaming.textContent += data.text;
    streaming.hidden = false;
  });
  source.addEventListener("end", function () { source.close(); document.body.dataset.ended = "1"; });
  source.addEventListener("steer", function (message) { redrawSteering(JSON.parse(message.data)); });
})();

// Steering a run this view serves (`run --ui`): the panel's buttons post JSON commands (the
// session cookie goes with them; the page holds no token); the server sends a new panel only
// when its requests or state change.
function redrawSteering(data) {
  var panel = document.getElementById("steer");
  if (!panel || !data.html || panel.dataset.key === data.key) return;
  panel.outerHTML = data.html;
}

(function () {
  function stepsOf(text) {
    return text.split("\n").map(function (line) {
      return line.replace(/^\s*\d+[.)]\s*/, "").trim();
    }).filter(function (line) { return line.length > 0; });
  }

  function commandFor(button) {
    var kind = button.dataset.command;
    var box = button.closest(".request");
    var id = box ? box.dataset.request : "";
    var field = function (selector) {
      var element = box ? box.querySelector(selector) : document.querySelector(selector);
      return element ? element.value.trim() : "";
    };
    if (kind === "pause" || kind === "resume" || kind === "stop") return { kind: kind };
    if (kind === "guide") return { kind: "guide", text: field("#guide-text") };
    if (kind === "approve") return { kind: "approve", request_id: id, reason: field(".reason") };
    if (kind === "deny") return { kind: "deny", request_id: id, reason: field(".reason") };
    if (kind === "comment") return { kind: "deny", request_id: id, reason: field(".reason") };
    if (kind === "edit_plan") return { kind: "edit_plan", steps: stepsOf(box.querySelector(".plan").value) };
    if (kind === "answer") return { kind: "guide", text: field(".answer") };
    return null;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("#steer button[data-command]");
    if (!button) return;
    var panel = document.getElementById("steer");
    var command = commandFor(button);
    if (!command) return;
    var error = document.getElementById("steer-error");
    fetch(panel.dataset.control, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(command),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (data.ok === "guide" && !button.closest(".request")) {
          document.getElementById("guide-text").value = "";  // taken: the box is free again
        }
        if (data.panel) redrawSteering(data.panel);
        if (!error) return;
        error.hidden = !data.error;
        error.textContent = data.error || "";
      });
    }).catch(function (problem) {
      if (error) { error.hidden = false; error.textContent = String(problem); }
    });
  });
})();
