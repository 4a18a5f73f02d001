// Waiting for an upload the server is still processing (a video): its `url` stays null
// until it is ready. Shared by the composer and the message thread.
import { api } from "./api.js";

const POLL_MS = 1000;
const POLL_TRIES = 300;

// The media as the server answers it once ready; still processing after five minutes, an error.
export async function waitUntilProcessed(media, name = "The file") {
  let current = media;
  for (let tries = 0; current.url === null && tries < POLL_TRIES; tries += 1) {
    await new Promise((done) => setTimeout(done, POLL_MS));
    current = await api("GET", `/api/v1/media/${current.id}`);
  }
  if (current.url === null) throw new Error(`${name} is still processing; try again later.`);
  return current;
}
