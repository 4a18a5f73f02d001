// The JSON API, called with the web app's own token (from the page's meta tag).
const meta = document.querySelector('meta[name="lumigram-token"]');

export const token = meta ? meta.content : null;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || `The server answered ${response.status}`);
  }
  return data;
}

// An upload with progress (fetch cannot report it): resolves with the JSON answer.
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    request.addEventListener("load", () => {
      const data = request.response;
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new ApiError(request.status, (data && data.error) || `The server answered ${request.status}`));
    });
    request.addEventListener("error", () => reject(new ApiError(0, "The upload failed: check your connection")));
    request.send(form);
  });
}
