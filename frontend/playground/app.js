// The playground: one form over the same HTTP API every client uses (/v1/models, /v1/videos,
// its /events and /content, /v1/images/generations and /edits). Every model the server serves is in the
// picker, grouped by task; the chosen model's card decides which knobs the form shows. The
// form can be copied as a curl or Python command. No build step, no external files. With API
// keys on, the key is asked for once and kept in this browser (localStorage).
"use strict";

const KEY_STORAGE = "framecast-api-key";
const $ = (id) => document.getElementById(id);
let models = [];
let running = null; // {id, abort: AbortController}
let shown = null; // the id of the video in the player

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
  // Next to the field the server named ("nvext.cache": the cache switch), or under the form.
  const param = error.param || "";
  const target = $(`error-${param}`) || $(`error-${param.split(".").pop()}`) || $("error-form");
  target.textContent = error.message || String(error);
}

// -- the model's defaults and limits shape the form ------------------------------------------

function frameRule(text) {
  const match = /(\d+)k\+1, (\d+) to (\d+)/.exec(text || "");
  return match ? { step: +match[1], min: +match[2], max: +match[3] } : null;
}

const VIDEO_TASKS = ["t2v", "i2v", "ti2v"];
// The picker's groups, in order: a model goes in the first whose test it passes.
const GROUPS = [
  ["Image to video", (tasks) => tasks.includes("i2v") || tasks.includes("ti2v")],
  ["Text to video", (tasks) => tasks.includes("t2v")],
  ["Text to image", (tasks) => tasks.includes("t2i")],
  ["Image edits", (tasks) => tasks.includes("i2i")],
];

function currentModel() {
  return models.find((entry) => entry.id === $("model").value);
}

function makesVideo(model) {
  return !model || !(model.tasks || []).length || (model.tasks || []).some((task) => VIDEO_TASKS.includes(task));
}

function makesImages(model) {
  return Boolean(model && ["t2i", "i2i"].some((task) => (model.tasks || []).includes(task)));
}

function editsImages(model) {
  return Boolean(model && (model.tasks || []).includes("i2i"));
}

function mode() {
  return $("mode").value;
}

function showMode() {
  const images = mode() === "image";
  for (const element of document.querySelectorAll(".video-only")) element.classList.toggle("off", images);
  for (const element of document.querySelectorAll(".image-only")) element.hidden = !images;
  const model = currentModel();
  const tasks = (model && model.tasks) || [];
  $("image-field").hidden = images || !(tasks.includes("i2v") || tasks.includes("ti2v"));
  $("edit-field").hidden = !images || !editsImages(model);
  $("guidance2-field").hidden = images || !(model && model.defaults && model.defaults.guidance_scale_2 != null);
  $("submit").textContent = images ? "Make images" : "Generate";
}

function chooseModel() {
  const model = currentModel();
  if (!model) return;
  const defaults = model.defaults || {}, limits = model.limits || {}, tasks = model.tasks || [];
  $("model-hint").textContent = `${tasks.join(", ")} · ${model.workers} worker(s) · ${model.support}`;
  // A model that makes both offers both; one that makes one kind switches the page to it.
  $("mode-field").hidden = !(makesVideo(model) && makesImages(model));
  $("mode").value = makesVideo(model) ? "video" : "image";
  $("size").value = defaults.size || "";
  $("sizes").replaceChildren(...(limits.sizes || []).map((size) => new Option(size, size)));
  $("size-hint").textContent = limits.only_listed_sizes
    ? `one of ${limits.sizes.join(", ")}`
    : `multiples of ${limits.size_multiple}, ${limits.min_pixels}–${limits.max_pixels} pixels`;
  const frames = frameRule(limits.num_frames);
  $("num_frames").value = defaults.num_frames || "";
  $("seconds").value = "";
  $("fps").value = defaults.fps || "";
  if (frames) {
    Object.assign($("num_frames"), { min: frames.min, max: frames.max, step: frames.step });
    $("frames-hint").textContent = `${frames.step}k+1, ${frames.min} to ${frames.max}`;
  }
  $("num_inference_steps").value = defaults.num_inference_steps || "";
  $("num_inference_steps").max = limits.max_steps || "";
  $("steps-hint").textContent = limits.max_steps ? `at most ${limits.max_steps}` : "";
  $("guidance_scale").value = defaults.guidance_scale ?? "";
  $("guidance_scale_2").value = defaults.guidance_scale_2 ?? "";
  $("image-hint").textContent = tasks.includes("i2v") && !tasks.includes("t2v") ? "required" : "optional";
  $("edit-hint").textContent = tasks.includes("t2i") ? "optional: without one, an image is made from the prompt" : "required: the model edits it as the prompt says";
  // Adapters the model offers, each off, at its scale.
  const adapters = model.adapters || [];
  $("adapters-field").hidden = !adapters.length;
  $("adapters").replaceChildren(...adapters.map((adapter) => {
    const row = document.createElement("div");
    row.className = "adapter";
    row.dataset.name = adapter.name;
    const label = document.createElement("label");
    const use = Object.assign(document.createElement("input"), { type: "checkbox", className: "use" });
    label.append(use, ` ${adapter.name}`);
    const scale = Object.assign(document.createElement("input"), { type: "number", className: "scale", step: "0.1", min: "-4", max: "4", value: "1" });
    scale.setAttribute("aria-label", `${adapter.name} scale`);
    row.append(label, scale);
    return row;
  }));
  $("exact-field").hidden = !model.step_cache;
  $("exact").checked = false;
  $("cache-mode").textContent = model.step_cache ? model.step_cache.mode : "";
  showMode();
}

// -- the request the form describes -----------------------------------------------------------

const NUMBERS = ["num_frames", "seconds", "fps", "num_inference_steps", "guidance_scale", "seed", "n"];

function value(name) {
  const text = $(name).value.trim();
  if (text === "") return undefined;
  return NUMBERS.includes(name) ? Number(text) : text;
}

function requestBody() {
  // The JSON body of the current form (without the image file): what every client sends.
  const images = mode() === "image";
  const body = {};
  const names = ["model", "prompt", "negative_prompt", "size", "num_inference_steps", "guidance_scale", "seed"];
  names.push(...(images ? ["n", "output_format"] : ["fps", $("seconds").value.trim() ? "seconds" : "num_frames"]));
  for (const name of names) {
    const given = value(name);
    if (given !== undefined) body[name] = given;
  }
  const lora = [...document.querySelectorAll("#adapters .adapter")]
    .filter((row) => row.querySelector(".use").checked)
    .map((row) => ({ name: row.dataset.name, scale: Number(row.querySelector(".scale").value || 1) }));
  if (lora.length) body.lora = lora;
  const nvext = {};
  if (!images && !$("guidance2-field").hidden && value("guidance_scale_2") !== undefined) nvext.guidance_scale_2 = Number(value("guidance_scale_2"));
  if (!$("exact-field").hidden && $("exact").checked) nvext.cache = false;
  if (Object.keys(nvext).length) body.nvext = nvext;
  return body;
}

function withImage() {
  const image = $("input_reference").files[0];
  return image && !$("image-field").hidden ? image : null;
}

function editing() {
  // An edit when the model edits and an image is given, or when it makes no image from text
  // alone (the server then names the missing image).
  const model = currentModel();
  return !$("edit-field").hidden && Boolean($("image").files[0] || !(model.tasks || []).includes("t2i"));
}

// -- copy as a command ------------------------------------------------------------------------

function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

function python(value) {
  if (value === true) return "True";
  if (value === false) return "False";
  if (value === null) return "None";
  if (Array.isArray(value)) return `[${value.map(python).join(", ")}]`;
  if (typeof value === "object") return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${python(item)}`).join(", ")}}`;
  return JSON.stringify(value);
}

function curlCommand() {
  const body = requestBody(), image = withImage();
  const auth = localStorage.getItem(KEY_STORAGE) ? ` -H "Authorization: Bearer $FRAMECAST_API_KEY"` : "";
  if (mode() === "image" && editing()) {
    const fields = Object.entries({ ...body, response_format: "b64_json" }).map(([name, item]) => `-F ${shellQuote(`${name}=${typeof item === "object" ? JSON.stringify(item) : item}`)}`);
    fields.push(`-F image=@${shellQuote(($("image").files[0] || { name: "image.png" }).name)}`);
    return `curl -X POST ${location.origin}/v1/images/edits${auth} \\\n  ${fields.join(" ")}`;
  }
  if (mode() === "image") {
    return `curl -X POST ${location.origin}/v1/images/generations${auth} -H 'content-type: application/json' \\\n  -d ${shellQuote(JSON.stringify({ ...body, response_format: "b64_json" }))}`;
  }
  const fields = Object.entries(body).map(([name, item]) => `-F ${shellQuote(`${name}=${typeof item === "object" ? JSON.stringify(item) : item}`)}`);
  if (image) fields.push(`-F input_reference=@${shellQuote(image.name)}`);
  return `curl -X POST ${location.origin}/v1/videos${auth} \\\n  ${fields.join(" ")}`;
}

function pythonCommand() {
  const body = requestBody(), image = withImage();
  const { model, prompt, size, n, output_format: format, ...extra } = body;
  const lines = [
    "import base64, os",
    "from openai import OpenAI",
    `client = OpenAI(base_url=${JSON.stringify(`${location.origin}/v1`)}, api_key=os.environ.get("FRAMECAST_API_KEY", "none"))`,
  ];
  const args = [`model=${python(model)}`, `prompt=${python(prompt || "")}`];
  if (size) args.push(`size=${python(size)}`);
  if (mode() === "image") {
    if (n) args.push(`n=${n}`);
    if (format) args.push(`output_format=${python(format)}`);
    args.push(`response_format="b64_json"`);
    const edit = editing();
    if (edit) args.push(`image=open(${python(($("image").files[0] || { name: "image.png" }).name)}, "rb")`);
    if (Object.keys(extra).length) args.push(`extra_body=${python(extra)}`);
    lines.push(`result = client.images.${edit ? "edit" : "generate"}(${args.join(", ")})`);
    lines.push("for index, item in enumerate(result.data):");
    lines.push(`    open(f"image-{index}.${format || "png"}", "wb").write(base64.b64decode(item.b64_json))`);
  } else {
    if (image) args.push(`input_reference=open(${python(image.name)}, "rb")`);
    if (Object.keys(extra).length) args.push(`extra_body=${python(extra)}`);
    lines.push(`video = client.videos.create_and_poll(${args.join(", ")})`);
    lines.push(`client.videos.download_content(video.id).write_to_file(f"{video.id}.mp4")`);
  }
  return lines.join("\n");
}

function copyCommand(text) {
  $("command").hidden = false;
  $("command").textContent = text;
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => { /* shown on the page instead */ });
}

async function loadModels() {
  models = (await (await api("/v1/models")).json()).data;
  const chosen = $("model").value;
  const placed = new Set();
  const groups = [];
  for (const [label, test] of [...GROUPS, ["Other", () => true]]) {
    const members = models.filter((model) => !placed.has(model.id) && test(model.tasks || []));
    if (!members.length) continue;
    members.forEach((model) => placed.add(model.id));
    const group = document.createElement("optgroup");
    group.label = label;
    group.append(...members.map((model) => new Option(model.id, model.id)));
    groups.push(group);
  }
  $("model").replaceChildren(...groups);
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

// -- remix: a finished video remade with a new prompt, by its model -----------------------------

function offerRemix(video) {
  // Only for a finished video whose model remakes videos (v2v among its tasks).
  const model = models.find((entry) => entry.id === video.model);
  shown = video.id;
  $("remix-form").hidden = !(video.status === "completed" && model && (model.tasks || []).includes("v2v"));
}

async function remix(event) {
  event.preventDefault();
  clearErrors();
  const body = { prompt: $("remix-prompt").value };
  if ($("strength").value) body.strength = Number($("strength").value);
  try {
    const response = await api(`/v1/videos/${shown}/remix`, {
      method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" },
    });
    const video = await response.json();
    $("remix-form").hidden = true;
    // Emptied, so the source stops playing while its remix is made.
    $("player").removeAttribute("src");
    $("player").load();
    showProgress(video);
    await follow(video.id);
  } catch (error) {
    // Its prompt and strength have their own places; anything else goes under the form.
    showError(error.param === "prompt" ? { ...error, param: "remix-prompt" } : error);
  }
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
  if (last) offerRemix(last);
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
  if (mode() === "image") return makeImages();
  const form = new FormData();
  for (const [name, item] of Object.entries(requestBody())) {
    form.append(name, typeof item === "object" ? JSON.stringify(item) : String(item));
  }
  const image = withImage();
  if (image) form.append("input_reference", image, image.name);
  $("images").hidden = true;
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

async function makeImages() {
  const body = { ...requestBody(), response_format: "b64_json" };
  $("job").hidden = true;
  $("images").hidden = false;
  $("images-status").textContent = `making ${body.n || 1} image(s)…`;
  $("image-grid").replaceChildren();
  $("submit").disabled = true;
  const edit = editing(), image = $("image").files[0];
  let request = { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } };
  if (edit) {
    // OpenAI's multipart shape: the fields, and the image as a file.
    const form = new FormData();
    for (const [name, item] of Object.entries(body)) form.append(name, typeof item === "object" ? JSON.stringify(item) : String(item));
    if (image) form.append("image", image, image.name);
    request = { method: "POST", body: form };
  }
  try {
    const response = await api(edit ? "/v1/images/edits" : "/v1/images/generations", request);
    const result = await response.json();
    const format = result.output_format || body.output_format || "png";
    $("images-status").textContent = `${result.data.length} image(s) · ${result.size || ""} · seed ${result.seed ?? ""}`;
    $("image-grid").replaceChildren(...result.data.map((item, index) => {
      const figure = document.createElement("figure");
      const source = `data:image/${format};base64,${item.b64_json}`;
      const picture = Object.assign(document.createElement("img"), { src: source, alt: `image ${index + 1}` });
      const link = Object.assign(document.createElement("a"), { href: source, download: `image-${index + 1}.${format}`, textContent: "download" });
      figure.append(picture, link);
      return figure;
    }));
  } catch (error) {
    $("images-status").textContent = "";
    showError(error);
  } finally {
    $("submit").disabled = false;
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
      item.addEventListener("click", () => {
        $("job").hidden = false;
        $("job-id").textContent = video.id;
        offerRemix(video);
        play(video.id, $("player"));
      });
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
$("mode").addEventListener("change", showMode);
$("copy-curl").addEventListener("click", () => copyCommand(curlCommand()));
$("copy-python").addEventListener("click", () => copyCommand(pythonCommand()));
$("video-form").addEventListener("submit", submit);
$("cancel").addEventListener("click", cancel);
$("remix-form").addEventListener("submit", remix);
$("save-key").addEventListener("click", () => {
  localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  start();
});
start();
