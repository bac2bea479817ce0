// The review desk's page: one pair at a time, decided with the keyboard.
// Talks only to linkd's /review/api/ (review_http.h); builds every element
// with textContent, never HTML from data.
"use strict";

const T = {
  vi: {
    title: "Bàn xét duyệt", list: "Danh sách", status: "Trạng thái", st_pending: "Chưa quyết định",
    st_unsure: "Chưa chắc", st_decided: "Đã quyết định", st_all: "Tất cả", kind: "Loại",
    k_review: "Cần xét duyệt", k_match: "Mẫu: khớp", k_nomatch: "Mẫu: không khớp", flag: "Cờ",
    any: "(bất kỳ)", prob: "Xác suất", apply: "Lọc",
    login_help: "Nhập mã truy cập (token) của cán bộ xét duyệt.", login: "Đăng nhập",
    empty: "Không còn cặp nào cần xét duyệt với bộ lọc này.", record: "Bản ghi",
    probability: "xác suất", list_record: "Danh sách", register_record: "Cơ sở dữ liệu dân cư",
    flags: "Lưu ý", weights: "Đóng góp của từng trường (bit)", same: "Cùng một người",
    different: "Khác người", unsure: "Chưa chắc", undo: "Hoàn tác", next: "Cặp tiếp",
    note: "Ghi chú (không bắt buộc)", history: "Lịch sử quyết định",
    calibration: "Hiệu chỉnh xác suất",
    keys: "Phím tắt: S cùng người · D khác người · U chưa chắc · Z hoàn tác · N cặp tiếp · 1–5 chọn ứng viên",
    progress: (d, t) => `${d} / ${t} đã quyết định`, who: (p) => `Cán bộ: ${p}`,
    candidate: (i, p) => `Ứng viên ${i} (${p})`, no_flags: "Không có lưu ý.",
    prior: "xác suất ban đầu", total: "tổng", decided_as: (v, o) => `Đã quyết định: ${v} (${o})`,
    saved: (v) => `Đã ghi: ${v}.`, undone: (r) => `Đã hoàn tác quyết định về ${r}.`,
    cal: (c) => c.decisions_used == 0
      ? "Chưa có quyết định nào dùng được để hiệu chỉnh."
      : `Dùng ${c.decisions_used} quyết định (${c.from_review_band} cần xét duyệt, ${c.from_samples} mẫu). ` +
        `Sai số hiệu chỉnh (ECE) của mô hình hiện tại trên các quyết định này: ${fmt(c.ece_model, 3)}; ` +
        `sau khi hiệu chỉnh lại từ chúng (linkctl calibrate --from-review): ${fmt(c.ece_refit, 3)}.` +
        (c.model_fitted_on ? ` Mô hình ${c.model_version} được hiệu chỉnh trên ${c.model_fitted_on}: ECE ${fmt(c.model_ece_before, 3)} → ${fmt(c.model_ece_after, 3)}.` : ""),
    kinds: { REVIEW_BAND: "cần xét duyệt", SAMPLE_MATCH: "mẫu khớp", SAMPLE_NO_MATCH: "mẫu không khớp" },
    verdicts: { SAME: "cùng một người", DIFFERENT: "khác người", UNSURE: "chưa chắc" },
    fields: { full_name: "Họ tên", birth_date: "Ngày sinh", sex: "Giới tính", national_id: "Số CCCD",
              old_id: "Số CMND cũ", address: "Địa chỉ", phone: "Điện thoại" },
    sex: { SEX_MALE: "Nam", SEX_FEMALE: "Nữ" },
    unauth: "Cần đăng nhập với vai trò REVIEW.",
  },
  en: {
    title: "Review desk", list: "List", status: "Status", st_pending: "Pending", st_unsure: "Unsure",
    st_decided: "Decided", st_all: "All", kind: "Kind", k_review: "To review",
    k_match: "Sample: match", k_nomatch: "Sample: no match", flag: "Flag", any: "(any)",
    prob: "Probability", apply: "Filter", login_help: "Enter your review officer's access token.",
    login: "Sign in", empty: "No pair left to review under this filter.", record: "Record",
    probability: "probability", list_record: "List", register_record: "Population register",
    flags: "Notes", weights: "Each field's contribution (bits)", same: "Same person",
    different: "Different", unsure: "Unsure", undo: "Undo", next: "Next pair",
    note: "Note (optional)", history: "Decision history", calibration: "Calibration",
    keys: "Keys: S same · D different · U unsure · Z undo · N next pair · 1–5 pick a candidate",
    progress: (d, t) => `${d} / ${t} decided`, who: (p) => `Officer: ${p}`,
    candidate: (i, p) => `Candidate ${i} (${p})`, no_flags: "Nothing to note.",
    prior: "prior", total: "total", decided_as: (v, o) => `Decided: ${v} (${o})`,
    saved: (v) => `Saved: ${v}.`, undone: (r) => `Undid the decision on ${r}.`,
    cal: (c) => c.decisions_used == 0
      ? "No decision usable for calibration yet."
      : `${c.decisions_used} decisions used (${c.from_review_band} from the review band, ${c.from_samples} samples). ` +
        `Calibration error (ECE) of the model in force on them: ${fmt(c.ece_model, 3)}; ` +
        `after a refit from them (linkctl calibrate --from-review): ${fmt(c.ece_refit, 3)}.` +
        (c.model_fitted_on ? ` Model ${c.model_version} was calibrated on ${c.model_fitted_on}: ECE ${fmt(c.model_ece_before, 3)} → ${fmt(c.model_ece_after, 3)}.` : ""),
    kinds: { REVIEW_BAND: "to review", SAMPLE_MATCH: "match sample", SAMPLE_NO_MATCH: "no-match sample" },
    verdicts: { SAME: "same person", DIFFERENT: "different", UNSURE: "unsure" },
    fields: { full_name: "Full name", birth_date: "Birth date", sex: "Sex", national_id: "CCCD number",
              old_id: "Old CMND number", address: "Address", phone: "Phone" },
    sex: { SEX_MALE: "Male", SEX_FEMALE: "Female" },
    unauth: "Sign in with the REVIEW role.",
  },
};

// Flags in plain words.
const FLAGS = {
  vi: {
    ID_CONFLICT: "Số CCCD thuộc về người khác",
    ID_HELD_BY_OTHER: "Số CCCD thuộc về người khác",
    ID_NOT_IN_REGISTER: "Số CCCD không có trong cơ sở dữ liệu",
    ID_TYPO: "Số CCCD gần đúng (có thể gõ nhầm một chữ số)",
    ID_INCONSISTENT: "Số CCCD không khớp với năm sinh, giới tính hoặc tỉnh",
    ID_CLAIMED_TWICE: "Số CCCD xuất hiện hai lần trong danh sách",
    NAME_DIFFERS: "Họ tên khác với người giữ số CCCD",
    NAME_TYPO: "Họ tên khác do lỗi gõ",
    HOLDER_DATE_DIFFERS: "Ngày sinh khác với người giữ số CCCD",
    HOLDER_SEX_DIFFERS: "Giới tính khác với người giữ số CCCD",
    AMBIGUOUS: "Có hai người gần giống nhau",
    MATCHED_TWICE: "Người này đã được ghép với một dòng khác",
    DATE_IMPOSSIBLE_DAY: "Ngày sinh có ngày không hợp lệ",
    DATE_IMPOSSIBLE_MONTH: "Ngày sinh có tháng không hợp lệ",
    DATE_SWAPPED: "Ngày và tháng sinh có thể bị đảo",
    DATE_PLACEHOLDER: "Ngày sinh là ngày điền tạm (01/01)",
    DATE_PARTLY_READ: "Chỉ đọc được một phần ngày sinh",
    DATE_YEAR_IMPLAUSIBLE: "Năm sinh không hợp lý",
    ADDRESS_UNRESOLVED: "Không xác định được địa chỉ",
    ADDRESS_AMBIGUOUS: "Địa chỉ có thể thuộc nhiều xã/phường",
    UNIT_VERSION_GUESSED: "Địa chỉ theo đơn vị hành chính trước 2025 (đã đoán)",
    UNKNOWN_COMMUNE_CODE: "Mã xã/phường không có trong danh mục",
    CCCD_UNKNOWN_PROVINCE: "Số CCCD có mã tỉnh không tồn tại",
    CCCD_SEX_MISMATCH: "Số CCCD không khớp với giới tính",
    CCCD_YEAR_MISMATCH: "Số CCCD không khớp với năm sinh",
    CMND_IN_NATIONAL_ID: "Ghi số CMND cũ vào ô CCCD",
    NATIONAL_ID_MALFORMED: "Số CCCD sai định dạng",
    OLD_ID_MALFORMED: "Số CMND sai định dạng",
    BLOCK_OVERSIZED: "Nhóm tìm kiếm quá lớn, có thể bỏ sót ứng viên",
    CANDIDATES_CAPPED: "Quá nhiều ứng viên, danh sách đã bị cắt",
  },
  en: {
    ID_CONFLICT: "The CCCD number belongs to someone else",
    ID_HELD_BY_OTHER: "The CCCD number belongs to someone else",
    ID_NOT_IN_REGISTER: "The CCCD number is not in the register",
    ID_TYPO: "The CCCD number is one digit off",
    ID_INCONSISTENT: "The CCCD number disagrees with birth year, sex or province",
    ID_CLAIMED_TWICE: "The CCCD number appears twice in the list",
    NAME_DIFFERS: "The name differs from the ID holder's",
    NAME_TYPO: "The name differs by a typing error",
    HOLDER_DATE_DIFFERS: "The birth date differs from the ID holder's",
    HOLDER_SEX_DIFFERS: "The sex differs from the ID holder's",
    AMBIGUOUS: "Two people are nearly as likely",
    MATCHED_TWICE: "This person is already matched to another row",
    DATE_IMPOSSIBLE_DAY: "The birth date has an impossible day",
    DATE_IMPOSSIBLE_MONTH: "The birth date has an impossible month",
    DATE_SWAPPED: "Day and month may be swapped",
    DATE_PLACEHOLDER: "The birth date is a placeholder (01/01)",
    DATE_PARTLY_READ: "Only part of the birth date could be read",
    DATE_YEAR_IMPLAUSIBLE: "The birth year is implausible",
    ADDRESS_UNRESOLVED: "The address could not be placed",
    ADDRESS_AMBIGUOUS: "The address fits more than one commune",
    UNIT_VERSION_GUESSED: "The address uses pre-2025 units (guessed)",
    UNKNOWN_COMMUNE_CODE: "The commune code is not in the list",
    CCCD_UNKNOWN_PROVINCE: "The CCCD number's province code does not exist",
    CCCD_SEX_MISMATCH: "The CCCD number disagrees with the sex",
    CCCD_YEAR_MISMATCH: "The CCCD number disagrees with the birth year",
    CMND_IN_NATIONAL_ID: "An old CMND number written as the CCCD",
    NATIONAL_ID_MALFORMED: "The CCCD number is malformed",
    OLD_ID_MALFORMED: "The CMND number is malformed",
    BLOCK_OVERSIZED: "A search block was too large: a candidate may be missing",
    CANDIDATES_CAPPED: "Too many candidates: the list was cut",
  },
};

const FIELDS = ["full_name", "birth_date", "sex", "national_id", "old_id", "address", "phone"];

const state = {
  lang: localStorage.getItem("linkd.lang") || "vi",
  token: sessionStorage.getItem("linkd.token") || "",
  principal: "", dataset: "", queue: [], index: 0, item: null, shown: 0, counts: null, busy: false,
};

const $ = (id) => document.getElementById(id);
const t = (key) => T[state.lang][key];
function fmt(x, digits) { return Number(x || 0).toFixed(digits); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json", "X-Linkd-Desk": "1" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const res = await fetch("api/" + path, { method: "POST", headers, body: JSON.stringify(body || {}) });
  const data = await res.json().catch(() => ({ message: res.statusText }));
  if (!res.ok) {
    const err = new Error(data.message || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function say(text, ok) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "";
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]"))
    e.placeholder = t(e.dataset.i18nPlaceholder);
  $("lang").textContent = state.lang === "vi" ? "EN" : "VI";
  $("who").textContent = state.principal ? t("who")(state.principal) : "";
  document.title = "linkd — " + t("title");
  renderProgress();
  if (state.item) renderItem();
  loadCalibration();
}

function renderProgress() {
  const c = state.counts;
  if (!c) return;
  // Unsure pairs are not done: only same / different count.
  const total = Number(c.total), decided = Number(c.same) + Number(c.different);
  $("progress-fill").style.width = total ? (100 * decided / total) + "%" : "0";
  $("progress-text").textContent = t("progress")(decided, total);
}

function fieldValue(rec, f) {
  if (!rec) return "";
  if (f === "sex") return T[state.lang].sex[rec.sex] || "";
  return rec[f] || "";
}

function fold(s) {
  return String(s).normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d")
    .replace(/Đ/g, "D").toLowerCase().replace(/[^a-z0-9]/g, "");
}

function renderItem() {
  const r = state.item, item = r.item;
  const cands = item.candidates || [];
  const shown = cands[state.shown] || null;
  $("pair").hidden = false;
  $("empty").hidden = true;
  $("pair").dataset.recordId = item.record_id;
  $("p-record").textContent = item.record_id;
  $("p-kind").textContent = T[state.lang].kinds[item.kind] || item.kind;
  $("p-prob").textContent = fmt(shown ? shown.candidate.probability : item.probability, 3);
  $("p-state").textContent = r.verdict && r.verdict !== "REVIEW_VERDICT_UNSPECIFIED"
    ? t("decided_as")(T[state.lang].verdicts[r.verdict], r.decided_by) : "";

  const nav = $("candidates");
  nav.replaceChildren();
  cands.forEach((c, i) => {
    const b = el("button", t("candidate")(i + 1, fmt(c.candidate.probability, 2)));
    b.type = "button";
    if (i === state.shown) b.classList.add("on");
    if (c.candidate.record_id === item.proposed_record_id) b.classList.add("proposed");
    b.title = c.candidate.record_id;
    b.addEventListener("click", () => { state.shown = i; renderItem(); });
    nav.appendChild(b);
  });

  const body = $("fields").tBodies[0];
  body.replaceChildren();
  const reg = shown ? shown.record : null;
  for (const f of FIELDS) {
    const a = fieldValue(item.record, f), b = fieldValue(reg, f);
    if (!a && !b) continue;
    const tr = el("tr");
    tr.appendChild(el("td", T[state.lang].fields[f], "field"));
    const ta = el("td", a), tb = el("td", b);
    if (a && b && fold(a) !== fold(b)) { ta.classList.add("diff"); tb.classList.add("diff"); }
    if (!a !== !b) { (a ? ta : tb).classList.add("diff"); }
    tr.append(ta, tb);
    body.appendChild(tr);
  }
  const flags = $("flags");
  flags.replaceChildren();
  for (const f of item.flags || []) flags.appendChild(el("li", FLAGS[state.lang][f] || f));
  if (!(item.flags || []).length) flags.appendChild(el("li", t("no_flags")));
  drawWaterfall(shown ? shown.candidate : null);

  const hist = $("history").querySelector("ol");
  hist.replaceChildren();
  for (const d of r.decisions || []) {
    const when = new Date(Number(d.unix_micros) / 1000).toLocaleString(state.lang);
    const what = Number(d.undoes) ? `${t("undo")} #${d.undoes}` : T[state.lang].verdicts[d.verdict];
    hist.appendChild(el("li", `#${d.seq} ${what} — ${d.officer}, ${when}${d.note ? " — " + d.note : ""}`));
  }
}

// Each field's weight, stacked from the prior to the total, in bits.
function drawWaterfall(c) {
  const svg = $("waterfall");
  svg.replaceChildren();
  if (!c) return;
  const NS = "http://www.w3.org/2000/svg";
  const rows = [];
  let sum = 0;
  for (const f of c.contributions || []) {
    const w = Number(f.weight_bits || 0) + Number(f.tf_adjustment_bits || 0);
    const name = T[state.lang].fields[f.field] || f.field;
    rows.push({ label: `${name}: ${f.level}`, from: 0, w });
    sum += w;
  }
  const total = Number(c.match_weight || 0);
  const prior = total ? total - sum : 0;
  let at = prior;
  for (const r of rows) { r.from = at; at += r.w; }
  const all = [{ label: t("prior"), from: 0, w: prior }, ...rows, { label: t("total"), from: 0, w: total ? total : at, total: true }];
  const xs = all.flatMap((r) => [r.from, r.from + r.w]).concat([0]);
  const lo = Math.min(...xs), hi = Math.max(...xs);
  const W = 420, left = 170, right = 40, rowH = 20;
  const scale = (x) => left + (x - lo) / ((hi - lo) || 1) * (W - left - right);
  svg.setAttribute("viewBox", `0 0 ${W} ${all.length * rowH + 10}`);
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  mk("line", { x1: scale(0), x2: scale(0), y1: 0, y2: all.length * rowH + 6, class: "axis" });
  all.forEach((r, i) => {
    const y = i * rowH + 4;
    const x0 = scale(Math.min(r.from, r.from + r.w)), x1 = scale(Math.max(r.from, r.from + r.w));
    mk("text", { x: 2, y: y + 13 }, r.label.length > 28 ? r.label.slice(0, 27) + "…" : r.label);
    mk("rect", { x: x0, y, width: Math.max(1, x1 - x0), height: rowH - 6,
                 class: r.total ? "total" : r.w >= 0 ? "pos" : "neg" });
    mk("text", { x: x1 + 3, y: y + 12 }, (r.w >= 0 ? "+" : "") + fmt(r.w, 1));
  });
}

async function loadQueue() {
  const body = {
    dataset: state.dataset, status: $("f-status").value, kind: $("f-kind").value,
    flag: $("f-flag").value, min_probability: Number($("f-min").value || 0),
    max_probability: Number($("f-max").value || 1), limit: 50,
  };
  const r = await api("list", body);
  state.queue = r.items || [];
  state.counts = r.counts;
  const sel = $("f-flag"), keep = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  for (const f of r.flags || []) {
    const o = el("option", f);
    o.value = f;
    sel.appendChild(o);
  }
  sel.value = keep;
  renderProgress();
}

async function show(index) {
  state.index = index;
  if (index >= state.queue.length) {
    state.item = null;
    $("pair").hidden = true;
    $("empty").hidden = false;
    document.body.dataset.state = "empty";
    return;
  }
  const s = state.queue[index];
  state.item = await api("item", { dataset: s.dataset, record_id: s.record_id });
  state.shown = 0;
  renderItem();
  document.body.dataset.state = "ready";
}

async function refresh() {
  await loadQueue();
  await show(0);
  loadCalibration();
}

async function loadCalibration() {
  if (!state.dataset) return;
  try {
    const r = await api("calibration", { dataset: state.dataset });
    $("cal-text").textContent = t("cal")(r.calibration);
  } catch (e) { /* shown by the main calls */ }
}

async function decide(verdict) {
  if (!state.item || state.busy) return;
  state.busy = true;
  document.body.dataset.state = "saving";
  try {
    const item = state.item.item;
    const c = item.candidates[state.shown];
    const body = { dataset: item.dataset, record_id: item.record_id, verdict,
                   note: $("note").value };
    if (verdict === "SAME" && c) body.candidate_record_id = c.candidate.record_id;
    await api("decide", body);
    $("note").value = "";
    say(t("saved")(T[state.lang].verdicts[verdict]), true);
    const pending = $("f-status").value === "pending";
    await loadQueue();
    // A decided item leaves the pending queue; elsewhere move on by one.
    await show(pending ? Math.min(state.index, state.queue.length) : state.index + 1);
    loadCalibration();
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
  }
}

async function undo() {
  if (state.busy) return;
  state.busy = true;
  try {
    const r = await api("undo", { dataset: state.dataset });
    say(t("undone")(r.undone.record_id), true);
    await loadQueue();
    state.item = await api("item", { dataset: r.undone.dataset, record_id: r.undone.record_id });
    state.shown = 0;
    const i = state.queue.findIndex((s) => s.record_id === r.undone.record_id);
    state.index = i >= 0 ? i : state.index;
    renderItem();
    document.body.dataset.state = "ready";
    loadCalibration();
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
  }
}

function fail(e) {
  if (e.status === 401 || e.status === 403) {
    $("login").hidden = false;
    say(t("unauth") + " " + e.message);
  } else {
    say(e.message);
  }
  document.body.dataset.state = "error";
}

async function start() {
  try {
    const s = await api("session");
    $("login").hidden = true;
    state.principal = s.principal;
    $("who").textContent = t("who")(s.principal);
    const d = await api("datasets");
    const sel = $("dataset");
    sel.replaceChildren();
    for (const x of d.datasets || []) {
      const o = el("option", `${x.dataset} (${x.counts.pending})`);
      o.value = x.dataset;
      sel.appendChild(o);
    }
    const wanted = decodeURIComponent(location.hash.slice(1));
    state.dataset = (d.datasets || []).some((x) => x.dataset === wanted) ? wanted
      : (d.datasets && d.datasets.length ? d.datasets[0].dataset : "");
    sel.value = state.dataset;
    if (!state.dataset) { $("empty").hidden = false; document.body.dataset.state = "empty"; return; }
    await refresh();
  } catch (e) {
    fail(e);
  }
}

document.addEventListener("keydown", (ev) => {
  const tag = (ev.target && ev.target.tagName) || "";
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toLowerCase();
  if (k === "s") decide("SAME");
  else if (k === "d") decide("DIFFERENT");
  else if (k === "u") decide("UNSURE");
  else if (k === "z") undo();
  else if (k === "n") show(state.index + 1).catch(fail);
  else if (k >= "1" && k <= "9" && state.item) {
    const i = Number(k) - 1;
    if (i < (state.item.item.candidates || []).length) { state.shown = i; renderItem(); }
  } else return;
  ev.preventDefault();
});

$("b-same").addEventListener("click", () => decide("SAME"));
$("b-diff").addEventListener("click", () => decide("DIFFERENT"));
$("b-unsure").addEventListener("click", () => decide("UNSURE"));
$("b-undo").addEventListener("click", undo);
$("b-next").addEventListener("click", () => show(state.index + 1).catch(fail));
$("f-apply").addEventListener("click", () => refresh().catch(fail));
$("dataset").addEventListener("change", (ev) => {
  state.dataset = ev.target.value;
  location.hash = encodeURIComponent(state.dataset);
  refresh().catch(fail);
});
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "vi" ? "en" : "vi";
  localStorage.setItem("linkd.lang", state.lang);
  applyLanguage();
});
$("login-go").addEventListener("click", () => {
  state.token = $("token").value.trim();
  sessionStorage.setItem("linkd.token", state.token);
  start();
});

applyLanguage();
start();
