// Follows one job's event log over SSE and draws its progress. The stream token comes from
// your backend (POST /v1/streams/tokens); the browser never holds an API key.
//
// Reconnects: a dropped connection is retried by EventSource itself, which sends
// Last-Event-ID; a stream the server ends with `event: close` and `reconnect: "retry"`
// (max-lifetime, idle, slow-consumer, shutdown) is reopened here with ?last_event_id=, so no
// event is missed or shown twice. `reconnect: "new-token"` would need a fresh token from
// your backend (not shown: this page stops there).
(function () {
  const q = new URLSearchParams(location.search);
  const api = (q.get("api") || "").replace(/\/$/, "");
  const job = q.get("job");
  const token = q.get("token");
  const bar = document.getElementById("bar");
  const status = document.getElementById("status");
  const percentText = document.getElementById("percent");
  document.getElementById("job").textContent = job;
  let lastId = null;
  let reconnects = 0;

  function show(percent, text) {
    if (percent !== null) {
      bar.style.width = percent + "%";
      bar.dataset.percent = String(percent);
      percentText.textContent = String(percent);
    }
    if (text) status.textContent = text;
  }

  function open() {
    let url = `${api}/v1/jobs/${encodeURIComponent(job)}/events/stream?token=${encodeURIComponent(token)}`;
    if (lastId !== null) url += `&last_event_id=${encodeURIComponent(lastId)}`;
    const es = new EventSource(url);
    es.onopen = () => show(null, "live");
    es.onmessage = (e) => {
      lastId = e.lastEventId;
      const ev = JSON.parse(e.data);
      if (ev.kind === "progress" && ev.data && typeof ev.data.percent === "number") {
        show(ev.data.percent, "running");
      } else if (ev.kind === "started") {
        show(null, "running");
      } else if (ev.kind === "completed") {
        show(100, "done");
      } else if (ev.kind === "dead" || ev.kind === "cancelled") {
        show(null, ev.kind);
      }
    };
    es.addEventListener("close", (e) => {
      es.close();
      const end = JSON.parse(e.data);
      if (end.last_event_id !== null) lastId = end.last_event_id;
      if (end.reconnect === "retry") {
        reconnects += 1;
        status.dataset.reconnects = String(reconnects);
        setTimeout(open, 200);
      } else if (end.reason !== "job-finished") {
        show(null, `ended: ${end.reason}`);
      }
    });
    es.onerror = () => {
      // EventSource retries by itself (with Last-Event-ID) unless the server refused it.
      if (es.readyState === EventSource.CLOSED) show(null, "refused (token expired or revoked?)");
      else show(null, "reconnecting");
    };
  }

  open();
})();
