// The playground: one form over the same HTTP API every client uses (/v1/models, /v1/videos,
// its /events and /content). No build step, no external files. With API keys on, the key is
// asked for once and kept in this browser (localStorage); every request sends it.
"use strict";

const KEY_STORAGE = "framecast-api-key";
const $ = (id) => document.getElementById(id);
let models = [];
let running = null; // {id, abort: AbortController}

function headers() {
  const key = localStorage.getItem(KEY_STORAGE);
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (response.status === 401) {
    $("key-section").hidden = false;
    throw { param: "api_key", message: "this server wants an API key" };
  }
  if (!response.ok) {
    let error = { message: `${response.status} ${response.statusText}` };
    try { error = (await response.json()).error || error; } catch (ignored) { /* not JSON */ }
    throw error;
  }
  return response;
}

function clearErrors() {
  for (const element of document.querySelectorAll(".field-error")) element.textContent = "";
}

function showError(error) {
  // Next to the field the server named, or under the form.
  const target = (error.param && $(`error-${error.param}`)) || $("error-form");
  target.textContent = error.message || String(error);
}

// -- the model's defaults and limits shape the form ------------------------------------------

function frameRule(text) {
  const match = /(\d+)k\+1, (\d+) to (\d+)/.exec(text || "");
  return match ? { step: +match[1], min: +match[2], max: +match[3] } : null;
}

function chooseModel() {
  const model = models.find((entry) => entry.id === $("model").value);
  if (!model) return;
  const defaults = model.defaults || {}, limits = model.limits || {}, tasks = model.tasks || [];
  $("model-hint").textContent = `${tasks.join(", ")} · ${model.workers} worker(s) · ${model.support}`;
  $("size").value = defaults.size || "";
  $("sizes").replaceChildren(...(limits.sizes || []).map((size) => new Option(size, size)));
  $("size-hint").textContent = limits.only_listed_sizes
    ? `one of ${limits.sizes.join(", ")}`
    : `multiples of ${limits.size_multiple}, ${limits.min_pixels}–${limits.max_pixels} pixels`;
  const frames = frameRule(limits.num_frames);
  const videos = tasks.some((task) => ["t2v", "i2v", "ti2v"].includes(task));
  $("num_frames").disabled = !videos;
  $("num_frames").value = videos ? defaults.num_frames || "" : "";
  if (frames) {
    Object.assign($("num_frames"), { min: frames.min, max: frames.max, step: frames.step });
    $("frames-hint").textContent = `${frames.step}k+1, ${frames.min} to ${frames.max}`;
  }
  $("num_inference_steps").value = defaults.num_inference_steps || "";
  $("num_inference_steps").max = limits.max_steps || "";
  $("steps-hint").textContent = limits.max_steps ? `at most ${limits.max_steps}` : "";
  const takesImage = tasks.includes("i2v") || tasks.includes("ti2v");
  $("image-field").hidden = !takesImage;
  $("image-hint").textContent = tasks.includes("i2v") && !tasks.includes("t2v") ? "required" : "optional";
}

async function loadModels() {
  models = (await (await api("/v1/models")).json()).data;
  const chosen = $("model").value;
  $("model").replaceChildren(...models.map((model) => new Option(model.id, model.id)));
  if (models.some((model) => model.id === chosen)) $("model").value = chosen;
  chooseModel();
}

let loadingSeen = 0;
let watching = false;

async function watchWorkers() {
  // Workers still loading their model show in the header until they serve; then the model
  // list is read again.
  try {
    const workers = (await (await api("/v1/runtime")).json()).data;
    const loading = workers.filter((worker) => worker.status === "loading");
    const served = `${models.length} model(s) served`;
    const now = Date.now() / 1000;
    $("server-status").textContent = loading.length
      ? `${served} · loading: ${loading.map((worker) => {
          const percent = worker.percent != null ? ` ${Math.round(worker.percent)}%` : "";
          return `${worker.model} (${worker.stage}${percent}, ${Math.round(now - worker.started_at)} s)`;
        }).join(", ")}`
      : served;
    if (loading.length < loadingSeen) await loadModels();
    loadingSeen = loading.length;
  } catch (error) {
    /* the next round tries again */
  }
  setTimeout(watchWorkers, 2000);
}

// -- a job ------------------------------------------------------------------------------------

function showProgress(video) {
  $("progress").value = video.progress;
  const steps = video.step != null && video.total_steps ? ` step ${video.step}/${video.total_steps}` : "";
  $("progress-text").textContent = `${video.stage || video.status}${steps} · ${video.progress}%`;
  $("job-id").textContent = video.id;
}

async function* events(id, signal) {
  // Server-sent events read with fetch, so the API key can travel as a header.
  const response = await api(`/v1/videos/${id}/events`, { signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n");
      const kind = (block.split("\n").find((line) => line.startsWith("event:")) || "event: message").slice(6).trim();
      if (data) yield { kind, data: JSON.parse(data) };
    }
  }
}

async function play(id, element) {
  const blob = await (await api(`/v1/videos/${id}/content`)).blob();
  element.src = URL.createObjectURL(blob);
  element.load();
}

async function follow(id) {
  const abort = new AbortController();
  running = { id, abort };
  $("cancel").disabled = false;
  $("job").hidden = false;
  let last = null;
  try {
    for await (const event of events(id, abort.signal)) {
      if (event.kind === "deleted") break;
      last = event.data;
      showProgress(last);
    }
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  } finally {
    running = null;
    $("cancel").disabled = true;
  }
  if (last && last.status === "completed") {
    await play(id, $("player"));
  } else if (last && last.status === "failed") {
    showError(last.error || { message: "the job failed" });
  }
  loadHistory();
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const form = new FormData();
  for (const name of ["model", "prompt", "negative_prompt", "size", "num_frames", "num_inference_steps", "seed"]) {
    const element = $(name);
    if (!element.disabled && element.value.trim() !== "") form.append(name, element.value.trim());
  }
  const image = $("input_reference").files[0];
  if (image && !$("image-field").hidden) form.append("input_reference", image, image.name);
  $("player").removeAttribute("src");
  $("progress").value = 0;
  try {
    const video = await (await api("/v1/videos", { method: "POST", body: form })).json();
    showProgress(video);
    await follow(video.id);
  } catch (error) {
    showError(error);
  }
}

async function cancel() {
  if (!running) return;
  const { id, abort } = running;
  try {
    await api(`/v1/videos/${id}`, { method: "DELETE" });
    $("progress-text").textContent = "cancelled";
  } catch (error) {
    showError(error);
  }
  abort.abort();
}

// -- history ----------------------------------------------------------------------------------

async function loadHistory() {
  let videos = [];
  try {
    videos = (await (await api("/v1/videos?limit=12")).json()).data;
  } catch (error) {
    return;
  }
  const items = videos.map((video) => {
    const item = document.createElement("li");
    item.dataset.id = video.id;
    const picture = document.createElement("img");
    picture.alt = video.status;
    const caption = document.createElement("div");
    caption.textContent = `${video.status} · ${video.size} · ${(video.prompt || "").slice(0, 40)}`;
    item.append(picture, caption);
    if (video.status === "completed") {
      api(`/v1/videos/${video.id}/content?variant=thumbnail`)
        .then((response) => response.blob())
        .then((blob) => { picture.src = URL.createObjectURL(blob); })
        .catch(() => { picture.alt = "no thumbnail"; });
      item.addEventListener("click", () => { $("job").hidden = false; $("job-id").textContent = video.id; play(video.id, $("player")); });
    }
    return item;
  });
  $("history").replaceChildren(...items);
}

async function start() {
  clearErrors();
  try {
    await loadModels();
    $("key-section").hidden = true;
    await loadHistory();
    if (!watching) { watching = true; watchWorkers(); }
  } catch (error) {
    showError(error);
  }
}

$("model").addEventListener("change", chooseModel);
$("video-form").addEventListener("submit", submit);
$("cancel").addEventListener("click", cancel);
$("save-key").addEventListener("click", () => {
  localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  start();
});
start();
