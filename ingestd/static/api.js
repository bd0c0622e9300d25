// The read API: JSON over fetch, with a read token asked for once per browser session.

const TOKEN_KEY = "ingestd.read-token";
let asking = null; // one question at a time, however many requests got a 401

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// Paths are relative to the page, so ingestd also works behind a proxy under a prefix.
export function apiURL(path, params = {}) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

export async function getJSON(path, params = {}, { signal } = {}) {
  const url = apiURL(path, params);
  for (;;) {
    const used = token();
    const headers = { Accept: "application/json" };
    if (used) headers.Authorization = `Bearer ${used}`;
    const answer = await fetch(url, { headers, signal });
    if (answer.status === 401 || answer.status === 403) {
      // Another request may already have brought a new token; if not, ask.
      if (token() === used) {
        await askForToken(
          answer.status === 403
            ? "This token lacks the read scope. Enter a token with read access."
            : used
              ? "That token was not accepted. Enter a read token."
              : "This ingestd needs a token to read. Enter a read token.",
        );
      }
      continue;
    }
    if (!answer.ok) {
      let detail = `${answer.status} ${answer.statusText}`;
      try {
        const problem = await answer.json();
        detail = problem.detail || problem.title || detail;
      } catch {
        // not a problem document; the status line says enough
      }
      throw new ApiError(answer.status, `${url.pathname}: ${detail}`);
    }
    return answer.json();
  }
}

// EventSource cannot send headers, so the token rides in the query string.
export function eventSource(path, params = {}) {
  return new EventSource(apiURL(path, { ...params, token: token() }));
}

function askForToken(why) {
  if (!asking) {
    asking = new Promise((resolve) => {
      const dialog = document.getElementById("token-dialog");
      const form = dialog.querySelector("form");
      const input = dialog.querySelector("input");
      dialog.querySelector(".token-why").textContent = why;
      input.value = "";
      const onSubmit = (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        form.removeEventListener("submit", onSubmit);
        dialog.close();
        asking = null;
        document.dispatchEvent(new CustomEvent("ingestd:token"));
        resolve();
      };
      form.addEventListener("submit", onSubmit);
      dialog.showModal();
      input.focus();
    });
  }
  return asking;
}
