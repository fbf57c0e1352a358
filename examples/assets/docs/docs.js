// API documentation page: renders /openapi.json and sends test requests to this origin.
// Everything is built with DOM calls and textContent, never innerHTML, so nothing in the
// document can run as markup or script. The token stays in the page's memory.
"use strict";

const METHODS = ["get", "put", "post", "delete", "patch", "options", "head", "trace"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function resolve(doc, item) {
  // Follows a local "#/components/..." reference, once.
  if (item && typeof item.$ref === "string" && item.$ref.startsWith("#/")) {
    return item.$ref.slice(2).split("/").reduce((at, key) => (at ? at[key] : undefined), doc) || item;
  }
  return item;
}

function securityOf(doc, op) {
  const requirements = op.security || doc.security || [];
  if (requirements.length === 0) return el("p", {}, el("span", { class: "badge" }, "public"), "no credentials");
  const list = el("ul");
  for (const requirement of requirements) {
    const parts = Object.entries(requirement).map(([scheme, scopes]) =>
      scopes.length ? `${scheme} with scopes ${scopes.join(", ")}` : scheme);
    list.append(el("li", {}, parts.join(" and ") || "anonymous"));
  }
  return el("div", {}, el("p", { class: "muted" }, "Any one of:"), list);
}

function responsesOf(doc, op) {
  const table = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "description"), el("th", {}, "content")));
  for (const [status, raw] of Object.entries(op.responses || {}).sort()) {
    const response = resolve(doc, raw) || {};
    const types = Object.keys(response.content || {}).join(", ");
    table.append(el("tr", {}, el("td", {}, el("code", {}, status)), el("td", {}, response.description || ""), el("td", {}, el("code", {}, types))));
  }
  return table;
}

function tryForm(path, method, op) {
  const form = el("form", { class: "try" });
  const params = (op.parameters || []).filter((p) => p.in === "path" || p.in === "query");
  const inputs = [];
  for (const param of params) {
    const input = el("input", { name: param.name, spellcheck: "false" });
    inputs.push([param, input]);
    form.append(el("label", {}, `${param.name} (${param.in}${param.required ? ", required" : ""})`), input);
  }
  let body = null;
  if (op.requestBody) {
    body = el("textarea", { spellcheck: "false" }, "{}");
    form.append(el("label", {}, "JSON body"), body);
  }
  const result = el("pre", { class: "result", hidden: "" });
  form.append(el("button", { type: "submit" }, "Send request"), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    for (const [param, input] of inputs) {
      if (param.in === "path") url = url.replace(`{${param.name}}`, encodeURIComponent(input.value));
      else if (input.value !== "") query.append(param.name, input.value);
    }
    if ([...query].length) url += `?${query}`;
    const headers = { Accept: "application/json, application/problem+json, */*" };
    const token = document.getElementById("token").value.trim();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method: method.toUpperCase(), headers, credentials: "omit", redirect: "manual" };
    if (body) {
      headers["Content-Type"] = "application/json";
      init.body = body.value;
    }
    result.hidden = false;
    result.textContent = "...";
    try {
      const response = await fetch(url, init);
      const lines = [`${response.status} ${response.statusText}`];
      response.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
      let text = await response.text();
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
      result.textContent = `${lines.join("\n")}\n\n${text}`;
    } catch (error) {
      result.textContent = `request failed: ${error}`;
    }
  });
  return form;
}

function operation(doc, path, method, op) {
  const summary = el("summary", {},
    el("span", { class: `method m-${method}` }, method),
    el("span", { class: "path" }, path),
    el("span", { class: "muted" }, op.summary || op.operationId || ""));
  const body = el("div", { class: "body" },
    op.description ? el("p", {}, op.description) : null,
    op.deprecated ? el("p", { class: "error" }, "Deprecated.") : null,
    el("h3", {}, "Security"), securityOf(doc, op),
    el("h3", {}, "Responses"), responsesOf(doc, op),
    el("h3", {}, "Try it"), tryForm(path, method, op));
  return el("details", { class: op.deprecated ? "op deprecated" : "op" }, summary, body);
}

async function main() {
  const container = document.getElementById("operations");
  let doc;
  try {
    const response = await fetch("/openapi.json", { credentials: "omit" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
  } catch (error) {
    container.replaceChildren(el("p", { class: "error" }, `Cannot load /openapi.json: ${error.message}`));
    return;
  }
  if (doc.info) {
    document.getElementById("title").textContent = `${doc.info.title || "API"} ${doc.info.version || ""}`.trim();
    document.title = document.getElementById("title").textContent;
  }
  const nodes = [];
  for (const [path, item] of Object.entries(doc.paths || {}).sort()) {
    for (const method of METHODS) {
      if (item[method]) nodes.push(operation(doc, path, method, item[method]));
    }
  }
  container.replaceChildren(...nodes);
}

document.addEventListener("DOMContentLoaded", main);
