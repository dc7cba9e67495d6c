// Server-sent events read over fetch, for run.js, chat.js and embed-chat.js (loaded before
// them): parseEvents(buffer, onEvent) calls onEvent(name, data) for each whole event in
// `buffer` and returns what is left of it (an event still arriving).
window.parseEvents = function (buffer, onEvent) {
  "use strict";
  var parts = buffer.split("\n\n");
  var rest = parts.pop();
  parts.forEach(function (block) {
    var name = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) name = line.slice(7);
      else if (line.indexOf("data: ") === 0) data += line.slice(6);
    });
    if (data) onEvent(name, JSON.parse(data));
  });
  return rest;
};
