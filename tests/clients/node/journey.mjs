// masto.js, a client written independently of Mastodon.py, through a photo app's
// everyday journey against a live Lumigram server. The pytest test that runs this passes
// the server and two accounts in the environment and checks the JSON printed at the end.
//
//   LUMIGRAM_URL, CLIENT_ID, CLIENT_SECRET, LOGIN, PASSWORD  the account signing in
//   FRIEND_ID                                                an account that posted a photo
//   PHOTO                                                    a JPEG file to upload
import { readFile } from "node:fs/promises";

import { createOAuthAPIClient, createRestAPIClient, createStreamingAPIClient } from "masto";

const env = process.env;
const url = env.LUMIGRAM_URL;
const results = {};

// An event may come before the stream's subscription has reached the server (Mastodon's
// protocol does not acknowledge one): each try pokes the stream again, a bounded number of times.
const STREAM_TRIES = 20;
const STREAM_WAIT_MS = 500;

async function signIn() {
  const oauth = createOAuthAPIClient({ url });
  const token = await oauth.token.create({
    grantType: "password",
    clientId: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET,
    redirectUri: "urn:ietf:wg:oauth:2.0:oob",
    username: env.LOGIN,
    password: env.PASSWORD,
    scope: "read write follow",
  });
  return token.accessToken;
}

async function firstEvent(subscription, poke) {
  const iterator = subscription[Symbol.asyncIterator]();
  let next = iterator.next();
  for (let attempt = 0; attempt < STREAM_TRIES; attempt += 1) {
    await poke(attempt);
    const timer = new Promise((resolve) => setTimeout(resolve, STREAM_WAIT_MS, null));
    const got = await Promise.race([next, timer]);
    if (got !== null) {
      return { event: got.value.event, payload: got.value.payload, tries: attempt + 1 };
    }
  }
  return null;
}

async function main() {
  const accessToken = await signIn();
  results.signedIn = Boolean(accessToken);
  const masto = createRestAPIClient({ url, accessToken });
  const me = await masto.v1.accounts.verifyCredentials();
  results.username = me.username;

  const photo = new Blob([await readFile(env.PHOTO)], { type: "image/jpeg" });
  const media = await masto.v2.media.create({ file: photo, description: "Harbour" });
  const status = await masto.v1.statuses.create({ status: "Harbour at dawn #film", mediaIds: [media.id] });
  results.media = { type: media.type, description: media.description };
  results.status = {
    id: status.id,
    media: status.mediaAttachments.map((m) => m.id),
    tags: status.tags.map((t) => t.name),
  };

  await masto.v1.accounts.$select(env.FRIEND_ID).follow();
  const home = await masto.v1.timelines.home.list({ limit: 20 });
  results.home = home.map((s) => s.id);

  const list = await masto.v1.lists.create({ title: "Friends", repliesPolicy: "list" });
  await masto.v1.lists.$select(list.id).accounts.create({ accountIds: [env.FRIEND_ID] });
  const listed = await masto.v1.timelines.list.$select(list.id).list();
  results.list = { title: list.title, timeline: listed.map((s) => s.account.id) };

  const notifications = await masto.v1.notifications.list();
  results.notifications = notifications.map((n) => [n.type, n.account.id]);

  const instance = await masto.v2.instance.fetch();
  const streaming = createStreamingAPIClient({
    streamingApiUrl: instance.configuration.urls.streaming,
    accessToken,
    retry: false,
  });
  try {
    const subscription = streaming.user.subscribe();
    // Editing one's post sends its author ``status.update`` on their user stream.
    const poke = (attempt) =>
      masto.v1.statuses.$select(status.id).update({
        status: `Harbour at dawn, take ${attempt + 2} #film`,
        mediaIds: [media.id],
      });
    const received = await firstEvent(subscription, poke);
    results.stream = received && {
      event: received.event,
      id: received.payload.id,
      tries: received.tries,
    };
    subscription.unsubscribe();
  } finally {
    streaming.close();
  }
}

try {
  await main();
  console.log(JSON.stringify(results));
} catch (error) {
  console.log(JSON.stringify({ ...results, error: String(error), detail: error?.description ?? null }));
  process.exitCode = 1;
}
